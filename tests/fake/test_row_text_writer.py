"""The writer generated per text plan: column names and keys stay data, never source."""

from __future__ import annotations

import json
from typing import Any

from d365leads.fake.wire.row_text import FORMAT, RUN, TextPlan, json_key

HOSTILE = [
    "a'); import os  #",
    'b"}\n    return 1\n#',
    "{p0}",
    "c\\x00\u2028",
]


def test_hostile_names_are_written_as_json_like_any_other() -> None:
    run = (RUN, tuple(HOSTILE[:2]), (None, None), tuple(json_key(n) for n in HOSTILE[:2]))
    label_key = HOSTILE[3] + "@OData.Community.Display.V1.FormattedValue"
    formatted = (
        FORMAT,
        HOSTILE[2],
        None,
        json_key(HOSTILE[2]),
        lambda value: f"#{value}",
        label_key,
        json_key(label_key),
    )
    plan = TextPlan((run, formatted))
    row: dict[str, Any] = {"versionnumber": 7, HOSTILE[0]: "x'y", HOSTILE[1]: [1, 2], HOSTILE[2]: 3}
    expected = {
        "@odata.etag": 'W/"7"',
        HOSTILE[0]: "x'y",
        HOSTILE[1]: [1, 2],
        HOSTILE[2]: 3,
        label_key: "#3",
    }
    # Twice: the second reads the formatted fragment kept by the first.
    assert plan.render(row) == json.dumps(expected)
    assert plan.render(row) == json.dumps(expected)
    assert plan.render({"versionnumber": 8}) == json.dumps(
        {"@odata.etag": 'W/"8"', HOSTILE[0]: None, HOSTILE[1]: None, HOSTILE[2]: None}
    )


def test_an_empty_plan_writes_the_etag_only() -> None:
    assert TextPlan(()).render({"versionnumber": 1}) == json.dumps({"@odata.etag": 'W/"1"'})
