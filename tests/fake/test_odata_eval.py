"""Unit tests of the fake's own $filter / $orderby / $select parser and evaluator."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d365leads.fake.core.fault import FakeFault
from d365leads.fake.org.tables import table
from d365leads.fake.wire.odata_eval import (
    OrderKey,
    compile_filter,
    parse_orderby,
    parse_select,
    sort_rows,
)

LEAD = table("lead")
ACCOUNT_ID = "6f1c2c1e-0000-0000-0000-000000000001"

ROWS: list[dict[str, Any]] = [
    {
        "leadid": "00000000-0000-0000-0000-00000000000a",
        "subject": "O'Hara deal",
        "firstname": "Ana",
        "lastname": "Lee",
        "statecode": 0,
        "statuscode": 1,
        "createdon": "2024-01-02T10:00:00Z",
        "parentaccountid": ACCOUNT_ID,
        "donotemail": True,
        "revenue": 10.5,
        "numberofemployees": 50,
        "estimatedclosedate": "2024-03-01",
    },
    {
        "leadid": "00000000-0000-0000-0000-00000000000b",
        "subject": "Renewal",
        "firstname": "ben",
        "lastname": "Okafor",
        "statecode": 2,
        "statuscode": 6,
        "createdon": "2022-01-02T10:00:00Z",
        "parentaccountid": None,
        "donotemail": False,
        "revenue": None,
        "numberofemployees": 5,
    },
    {
        "leadid": "00000000-0000-0000-0000-00000000000c",
        "subject": None,
        "firstname": "Chloe",
        "lastname": "Chloe",
        "statecode": 1,
        "statuscode": 3,
        "createdon": "2023-06-30T23:59:59Z",
        "parentaccountid": None,
        "revenue": 99,
        "numberofemployees": None,
    },
]


def ids(text: str, rows: list[dict[str, Any]] = ROWS, **kwargs: Any) -> list[str]:
    predicate = compile_filter(text, LEAD, **kwargs)
    return [r["leadid"][-1] for r in rows if predicate(r)]


def fault(text: str, **kwargs: Any) -> FakeFault:
    with pytest.raises(FakeFault) as info:
        compile_filter(text, LEAD, **kwargs)
    return info.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("statecode eq 0", ["a"]),
        ("statecode ne 0", ["b", "c"]),
        ("statecode gt 0", ["b", "c"]),
        ("statecode ge 1", ["b", "c"]),
        ("statecode lt 2", ["a", "c"]),
        ("statecode le 1", ["a", "c"]),
        ("statecode eq 2 and statuscode eq 6", ["b"]),
        ("statecode eq 0 or statuscode eq 3", ["a", "c"]),
        ("not (statecode eq 0)", ["b", "c"]),
        ("(statecode eq 0 or statecode eq 2) and numberofemployees gt 10", ["a"]),
        ("statecode eq 0 or statecode eq 2 and numberofemployees gt 10", ["a"]),
    ],
)
def test_comparison_and_logic(text: str, expected: list[str]) -> None:
    assert ids(text) == expected


def test_string_comparisons_are_case_insensitive() -> None:
    assert ids("firstname eq 'BEN'") == ["b"]
    assert ids("lastname eq 'lee'") == ["a"]
    assert ids("firstname gt 'b'") == ["b", "c"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("contains(subject,'HARA')", ["a"]),
        ("startswith(subject,'ren')", ["b"]),
        ("endswith(subject, 'DEAL')", ["a"]),
        ("not contains(subject,'deal')", ["b"]),
    ],
)
def test_string_functions_ignore_case_and_skip_nulls(text: str, expected: list[str]) -> None:
    assert ids(text) == expected


def test_doubled_quote_in_literal() -> None:
    assert ids("subject eq 'O''Hara deal'") == ["a"]
    assert ids("contains(subject,'''')") == ["a"]


def test_null_literal_and_three_valued_logic() -> None:
    assert ids("subject eq null") == ["c"]
    assert ids("subject ne null") == ["a", "b"]
    assert ids("null eq subject") == ["c"]
    # SQL semantics: a null column is neither equal nor unequal to a value.
    assert ids("revenue ne 10.5") == ["c"]
    assert ids("not (revenue gt 50)") == ["a"]
    assert ids("revenue gt 50 or statecode eq 2") == ["b", "c"]


def test_lookup_value_property_with_unquoted_and_quoted_guid() -> None:
    assert ids(f"_parentaccountid_value eq {ACCOUNT_ID.upper()}") == ["a"]
    assert ids(f"_parentaccountid_value eq '{ACCOUNT_ID}'") == ["a"]
    assert ids("_parentaccountid_value eq null") == ["b", "c"]


def test_quoted_guid_refused_when_switched_off() -> None:
    error = fault(f"_parentaccountid_value eq '{ACCOUNT_ID}'", accept_quoted_guid=False)
    assert error.status == 400
    assert "'Edm.Guid' and 'Edm.String'" in error.message


def test_quoted_non_guid_against_lookup_is_400() -> None:
    error = fault("_parentaccountid_value eq 'nope'")
    assert error.status == 400 and "not a valid GUID" in error.message


def test_primary_key_guid() -> None:
    assert ids("leadid eq 00000000-0000-0000-0000-00000000000B") == ["b"]


def test_datetimes_compare_as_instants() -> None:
    assert ids("createdon lt 2023-01-01") == ["b"]
    assert ids("createdon ge 2023-06-30T23:59:59Z") == ["a", "c"]
    # 2023-07-01T01:00+02:00 is 2023-06-30T23:00Z: row c (23:59:59Z) is after it.
    assert ids("createdon gt 2023-07-01T01:00:00+02:00 and createdon lt 2024-01-01") == ["c"]
    assert ids("createdon gt 2023-06-30T23:59:59.5000000Z") == ["a"]
    assert ids("estimatedclosedate eq 2024-03-01") == ["a"]


def test_decimal_and_integer_literals() -> None:
    assert ids("revenue gt 10") == ["a", "c"]
    assert ids("revenue eq 10.5") == ["a"]
    assert ids("revenue eq 10.5M") == ["a"]
    assert ids("revenue lt 1e2") == ["a", "c"]
    assert ids("numberofemployees ge -1") == ["a", "b"]


def test_boolean_column_and_literals() -> None:
    assert ids("donotemail") == ["a"]
    assert ids("donotemail eq false") == ["b"]
    assert ids("not donotemail") == ["b"]
    assert ids("true") == ["a", "b", "c"]


def test_column_to_column_comparison() -> None:
    assert ids("firstname eq lastname") == ["c"]
    assert ids("statuscode gt statecode") == ["a", "b", "c"]


def test_parameter_alias() -> None:
    assert ids("statuscode eq @p1", aliases={"@p1": "6"}) == ["b"]
    assert ids("firstname eq @name", aliases={"@name": "'ANA'"}) == ["a"]
    error = fault("statuscode eq @p2", aliases={"@p1": "6"})
    assert error.status == 400 and "@p2" in error.message


def test_unknown_column_uses_dataverse_message() -> None:
    error = fault("nosuchcolumn eq 1")
    assert (error.status, error.code) == (400, "0x80060888")
    assert error.message == (
        "Could not find a property named 'nosuchcolumn' on type 'Microsoft.Dynamics.CRM.lead'."
    )


def test_lookup_attribute_name_is_not_a_filter_property() -> None:
    error = fault(f"parentaccountid eq {ACCOUNT_ID}")
    assert "Could not find a property named 'parentaccountid'" in error.message


def test_incompatible_types() -> None:
    error = fault("subject eq 5")
    assert error.status == 400
    assert "'Edm.String' and 'Edm.Int32'" in error.message and "'Equal'" in error.message
    assert fault("statecode eq 'x'").status == 400
    assert fault("createdon gt 5").status == 400


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("statecode eq", "Expression expected at position 12"),
        ("subject eq 'abc", "unterminated string literal at position 11"),
        ("(statecode eq 1", "')' or operator expected at position 15"),
        ("statecode eq 1 statuscode", "position 15"),
        ("subject", "not a boolean condition"),
        ("", "Expression expected at position 0"),
        ("statecode eq 1 and", "Expression expected"),
        ("frobnicate(subject)", "unknown function with name 'frobnicate'"),
        ("contains(subject)", "No function signature for the function with name 'contains'"),
        ("contains(statecode,'1')", "No function signature"),
        ("statecode eq 1 ; drop", "not valid at position 15"),
        ("(statecode eq 1) eq (statuscode eq 1)", "compares a property or a literal"),
        ("not statecode eq 0", "not a boolean condition"),
        ("not donotemail eq true", "compares a property or a literal"),
    ],
)
def test_syntax_errors_are_precise_400s(text: str, needle: str) -> None:
    error = fault(text)
    assert (error.status, error.code) == (400, "0x80060888")
    assert needle in error.message


@pytest.mark.parametrize(
    ("text", "feature"),
    [
        (
            "Microsoft.Dynamics.CRM.InFiscalYear(PropertyName='createdon',PropertyValue=2024)",
            "Microsoft.Dynamics.CRM.InFiscalYear",
        ),
        (
            "Microsoft.Dynamics.CRM.EqualUserTeams(PropertyName='ownerid')",
            "Microsoft.Dynamics.CRM.EqualUserTeams",
        ),
        ("lead_opportunities/any(o:o/name eq 'x')", "lambda operator"),
        ("tolower(subject) eq 'x'", "tolower"),
        ("year(createdon) eq 2024", "year"),
        ("statecode add 1 eq 2", "arithmetic operator 'add'"),
        ("statuscode in (4,6)", "'in' operator"),
        ("parentaccountid/name eq 'Contoso'", "navigation path 'parentaccountid/...' here"),
    ],
)
def test_unsupported_features_are_501_naming_them(text: str, feature: str) -> None:
    error = fault(text)
    assert error.status == 501
    assert feature in error.message


def test_navigation_path_from_unknown_property_is_400() -> None:
    assert fault("nosuch/name eq 'x'").status == 400


# --- $orderby -----------------------------------------------------------------------------


def test_parse_orderby_validates_and_defaults_to_ascending() -> None:
    keys = parse_orderby("createdon desc, subject,_parentaccountid_value asc", LEAD)
    assert keys == [
        OrderKey("createdon", True),
        OrderKey("subject", False),
        OrderKey("parentaccountid", False),
    ]
    with pytest.raises(FakeFault) as info:
        parse_orderby("nosuch desc", LEAD)
    assert "Could not find a property named 'nosuch'" in info.value.message
    with pytest.raises(FakeFault) as info:
        parse_orderby("subject sideways", LEAD)
    assert info.value.status == 400
    with pytest.raises(FakeFault) as info:
        parse_orderby("subject,", LEAD)
    assert info.value.status == 400


def test_sort_rows_nulls_first_ascending_last_descending() -> None:
    rows = [
        {"id": 1, "revenue": 5},
        {"id": 2, "revenue": None},
        {"id": 3, "revenue": 1},
    ]
    assert [r["id"] for r in sort_rows(rows, [("revenue", False)])] == [2, 3, 1]
    assert [r["id"] for r in sort_rows(rows, [("revenue", True)])] == [1, 3, 2]


def test_sort_rows_multiple_keys_text_and_typed_dates() -> None:
    rows = [
        {"leadid": "1", "statecode": 0, "subject": "beta", "createdon": "2024-01-02T00:00:00Z"},
        {"leadid": "2", "statecode": 0, "subject": "Alpha", "createdon": "2024-01-01T00:00:00Z"},
        {"leadid": "3", "statecode": 1, "subject": "alpha", "createdon": "2023-12-31T23:00:00Z"},
    ]
    by_text = sort_rows(rows, "statecode desc, subject", LEAD)
    assert [r["leadid"] for r in by_text] == ["3", "2", "1"]
    by_date = sort_rows(rows, [("createdon", False)], LEAD)
    assert [r["leadid"] for r in by_date] == ["3", "2", "1"]


# --- $select ------------------------------------------------------------------------------


def test_parse_select_returns_attribute_names() -> None:
    assert parse_select("subject, _parentaccountid_value,subject,statecode", LEAD) == [
        "subject",
        "parentaccountid",
        "statecode",
    ]


@pytest.mark.parametrize(
    "text", ["parentaccountid", "nosuch", "subject,", "parentaccountid_account"]
)
def test_parse_select_refuses_unknown_and_bare_lookups(text: str) -> None:
    with pytest.raises(FakeFault) as info:
        parse_select(text, LEAD)
    assert info.value.status == 400


# --- property: quoting by doubling round-trips --------------------------------------------


@settings(deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40))
def test_any_string_literal_round_trips_and_matches_only_its_row(value: str) -> None:
    other = value + "x"
    rows = [
        {"leadid": "00000000-0000-0000-0000-000000000001", "subject": value},
        {"leadid": "00000000-0000-0000-0000-000000000002", "subject": other},
        {"leadid": "00000000-0000-0000-0000-000000000003", "subject": None},
    ]
    literal = "'" + value.replace("'", "''") + "'"
    predicate = compile_filter(f"subject eq {literal}", LEAD)
    matched = [r["leadid"][-1] for r in rows if predicate(r)]
    assert matched == ["1"]


def test_string_functions_use_like_wildcards_like_dataverse() -> None:
    rows = [
        {"leadid": "00000000-0000-0000-0000-000000000001", "subject": "a_b 100% sure"},
        {"leadid": "00000000-0000-0000-0000-000000000002", "subject": "axb 1000 units"},
        {"leadid": "00000000-0000-0000-0000-000000000003", "subject": "Cab [draft]"},
    ]
    assert ids("contains(subject,'a_b')", rows) == ["1", "2"]
    assert ids("contains(subject,'a[_]b')", rows) == ["1"]
    assert ids("contains(subject,'100[%]')", rows) == ["1"]
    assert ids("contains(subject,'100%')", rows) == ["1", "2"]
    assert ids("startswith(subject,'[a-b]')", rows) == ["1", "2"]
    assert ids("startswith(subject,'[^a]')", rows) == ["3"]
    assert ids("endswith(subject,'[[]draft]')", rows) == ["3"]
    assert ids("contains(subject,'[dr')", rows) == ["3"]
    assert ids("contains(subject,'.')", rows) == []


@settings(deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(-1000, 1000)), max_size=30), st.booleans())
def test_sort_rows_orders_like_sql_server(values: list[int | None], descending: bool) -> None:
    rows = [{"leadid": str(i), "numberofemployees": v} for i, v in enumerate(values)]
    result = [
        r["numberofemployees"] for r in sort_rows(rows, [("numberofemployees", descending)], LEAD)
    ]
    nulls = [v for v in values if v is None]
    present = sorted((v for v in values if v is not None), reverse=descending)
    assert result == (present + nulls if descending else nulls + present)
