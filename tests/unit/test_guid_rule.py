"""One rule for GUIDs everywhere: what users paste is accepted, anything else is refused."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from d365leads import InvalidIdError
from d365leads.bulk.selection import read_ids_file
from d365leads.cli.app import cli
from d365leads.odata import normalize_guid
from d365leads.records import entity_path

HEX = "0123456789abcdefABCDEF"
WHITESPACE = st.text(alphabet=" \t\r\n", max_size=3)


def pasted_forms(value: uuid.UUID) -> list[str]:
    """The forms a GUID arrives in: copied from a URL, SQL, .NET, PowerShell, a CSV export."""
    grouped, digits = str(value), value.hex
    return [
        grouped,
        grouped.upper(),
        digits,
        digits.upper(),
        "{" + grouped + "}",
        "{" + grouped.upper() + "}",
        "{" + digits + "}",
        "urn:uuid:" + grouped,
        "URN:UUID:" + digits.upper(),
    ]


@given(st.uuids(), st.sampled_from(range(9)), WHITESPACE, WHITESPACE, st.randoms())
def test_every_pasted_form_gives_the_canonical_id(
    value: uuid.UUID, form: int, before: str, after: str, rnd: object
) -> None:
    text = pasted_forms(value)[form]
    mixed = "".join(c.upper() if rnd.random() < 0.5 else c.lower() for c in text)  # type: ignore[attr-defined]
    assert normalize_guid(before + mixed + after) == str(value)


@given(st.uuids(), st.integers(min_value=0, max_value=35))
def test_a_character_too_many_or_too_few_is_refused(value: uuid.UUID, at: int) -> None:
    grouped = str(value)
    with pytest.raises(InvalidIdError, match="is not a GUID"):
        normalize_guid(grouped[:at] + grouped[at + 1 :])  # a digit, or one hyphen, missing
    with pytest.raises(InvalidIdError):
        normalize_guid(grouped[:at] + "a" + grouped[at:])


@given(st.uuids(), st.sampled_from(["x", "g", " ", "'", ")", "é", "０"]), st.integers(0, 35))
def test_a_foreign_character_anywhere_is_refused(value: uuid.UUID, char: str, at: int) -> None:
    grouped = str(value)
    with pytest.raises(InvalidIdError):
        normalize_guid(grouped[:at] + char + grouped[at + 1 :])


@given(st.text(max_size=50))
def test_arbitrary_text_is_either_refused_or_exactly_a_guid(text: str) -> None:
    try:
        result = normalize_guid(text)
    except InvalidIdError as exc:
        assert "is not a GUID" in str(exc)
    else:
        assert str(uuid.UUID(result)) == result
        assert result.replace("-", "") in text.lower().replace("-", "")


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "{6f1c2c1e-0000-0000-0000-000000000001",  # unbalanced brace
        "6f1c2c1e-0000-0000-0000-000000000001}",
        "(6f1c2c1e-0000-0000-0000-000000000001)",
        "{urn:uuid:6f1c2c1e-0000-0000-0000-000000000001}",
        "urn:uuid:{6f1c2c1e-0000-0000-0000-000000000001}",
        "6f1c2c1e-00000000-0000-0000-000000000001",  # hyphens moved
        "6f1c2c1e0000-0000-0000-000000000001",  # some hyphens missing
        "6f1c2c1e-0000-0000-0000-0000 00000001",
        "6f1c2c1e-0000-0000-0000-000000000001 or 1 eq 1",
        "0x6f1c2c1e000000000000000000000001",
        12,
        None,
        b"6f1c2c1e-0000-0000-0000-000000000001",
    ],
)
def test_invalid_ids_are_refused_with_the_accepted_forms(bad: object) -> None:
    with pytest.raises(InvalidIdError) as info:
        normalize_guid(bad, what="lead id")
    message = str(info.value)
    assert (
        message.startswith("lead id ") and "urn:uuid:" in message and "without hyphens" in message
    )


def test_ids_files_and_record_paths_follow_the_same_rule(tmp_path: Path) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    ids = tmp_path / "ids.txt"
    ids.write_text(f" {{{str(a).upper()}}}\n{b.hex}\nurn:uuid:{a}\n", encoding="utf-8")
    assert read_ids_file(ids) == [str(a), str(b)]
    assert entity_path("leads", b.hex.upper()) == f"leads({b})"
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{a}\n{str(b)[:-1]}-\n", encoding="utf-8")
    with pytest.raises(InvalidIdError, match=r"bad.txt, line 2: '.*' is not a GUID"):
        read_ids_file(bad)


def test_cli_currency_option_follows_the_same_rule() -> None:
    runner = CliRunner()
    args = ["--url", "http://127.0.0.1:9", "bulk", "qualify", "--filter", "statecode eq 0"]
    result = runner.invoke(cli, [*args, "--currency", "6f1c2c1e-0000-0000-0000-00000000001"])
    assert result.exit_code == 2
    assert "not a GUID" in result.output and "--currency" in result.output


def test_key_form_entity_ids_are_told_apart_from_guid_ones() -> None:
    from d365leads.odata.paths import is_key_form_entity_url

    base = "https://org.crm.dynamics.com/api/data/v9.2/"
    assert is_key_form_entity_url(base + "accounts(example_key1=2,example_key2=2)")
    assert is_key_form_entity_url(base + "leads(emailaddress1='a@x.com')")
    assert not is_key_form_entity_url(base + "accounts(7eb682f1-ca75-e511-80d4-00155d2a68d1)")
    assert not is_key_form_entity_url(base + "accounts")
