"""Parsing of StatusAttributeMetadata and the status-reason checks."""

from __future__ import annotations

import pytest

from d365leads import InvalidStatusError
from d365leads.metadata import (
    default_status_reasons,
    parse_status_metadata,
    status_metadata_path,
)


def _option(value: int, state: int, label: str | None) -> dict[str, object]:
    user = {"Label": label, "LanguageCode": 1033} if label else None
    localized = [{"Label": label, "LanguageCode": 1033}] if label else []
    return {
        "@odata.type": "#Microsoft.Dynamics.CRM.StatusOptionMetadata",
        "Value": value,
        "State": state,
        "Label": {"LocalizedLabels": localized, "UserLocalizedLabel": user},
    }


BODY = {
    "LogicalName": "statuscode",
    "OptionSet": {
        "Options": [
            _option(1, 0, "New"),
            _option(2, 0, "Contacted"),
            _option(3, 1, "Qualified"),
            _option(4, 2, "Lost"),
            _option(100000000, 2, "Went with competitor"),
            _option(100000001, 0, None),
        ]
    },
}


def test_parses_options_with_states_and_labels() -> None:
    reasons = parse_status_metadata("lead", BODY)
    assert reasons.source == "org"
    assert [(r.value, r.state) for r in reasons.of_state(2)] == [(4, 2), (100000000, 2)]
    assert reasons.find(100000000).label == "Went with competitor"  # type: ignore[union-attr]
    assert reasons.find(100000001).label == "100000001"  # type: ignore[union-attr]


def test_check_accepts_a_reason_of_the_state_and_explains_refusals() -> None:
    reasons = parse_status_metadata("lead", BODY)
    assert reasons.check(100000000, 2).label == "Went with competitor"
    with pytest.raises(InvalidStatusError, match=r"3 \(Qualified\) belongs to another lead state"):
        reasons.check(3, 2, state_label="Disqualified (2)")
    with pytest.raises(InvalidStatusError, match="valid reasons for state 2: 4 \\(Lost\\)"):
        reasons.check(42, 2)
    with pytest.raises(InvalidStatusError, match="must be an int"):
        reasons.check(True, 2)


def test_empty_metadata_is_an_error() -> None:
    with pytest.raises(InvalidStatusError, match="no status reasons"):
        parse_status_metadata("lead", {"OptionSet": {"Options": []}})


def test_defaults_and_path() -> None:
    assert [r.value for r in default_status_reasons("opportunity").of_state(2)] == [4, 5]
    assert default_status_reasons("contact").source == "default"
    assert status_metadata_path("lead") == (
        "EntityDefinitions(LogicalName='lead')/Attributes(LogicalName='statuscode')"
        "/Microsoft.Dynamics.CRM.StatusAttributeMetadata"
    )


def test_default_labels_are_the_products_labels() -> None:
    labels = {r.value: r.label for r in default_status_reasons("opportunity").of_state(2)}
    assert labels == {4: "Canceled", 5: "Out-Sold"}
    lead = {r.value: r.label for r in default_status_reasons("lead").options}
    assert lead[6] == "No Longer Interested" and lead[5] == "Cannot Contact"
