"""Symbolic references in seeds: deterministic GUIDs, lookups by name, all or nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from d365leads.fake import FakeDataverse, SeedError

SEED_YAML = """\
account:
  - $ref: acme
    name: Acme Corp
contact:
  - $ref: ana
    firstname: Ana
    lastname: Lee
    parentcustomerid: $acme
lead:
  - subject: Fleet renewal
    lastname: Lee
    parentaccountid: $acme
    parentcontactid: $ana
"""


def test_seed_file_names_rows_and_links_them_with_stable_guids(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(SEED_YAML)
    first, second = FakeDataverse(), FakeDataverse()
    first.seed_file(seed)
    second.seed_file(seed)
    acme, ana = first.ref("acme"), first.ref("ana")
    assert (acme, ana) == (second.ref("acme"), second.ref("ana"))  # same GUIDs every run
    account = first.get("account", acme)
    assert account is not None and account["name"] == "Acme Corp"
    contact = first.get("contact", ana)
    assert contact is not None and contact["parentcustomerid"] == acme
    assert contact["parentcustomeridtype"] == "account"
    (lead,) = first.rows("lead")
    assert (lead["parentaccountid"], lead["parentcontactid"]) == (acme, ana)


def test_references_resolve_over_the_wire(tmp_path: Path) -> None:
    fake = FakeDataverse()
    fake.seed("account", [{"$ref": "acme", "name": "Acme"}])
    fake.seed("contact", [{"lastname": "Lee", "parentcustomerid": "$acme"}])
    with fake.mock():
        body = requests.get(
            fake.base_url + "contacts?$select=_parentcustomerid_value",
            headers={"Authorization": "Bearer t"},
            timeout=5,
        ).json()
    assert body["value"][0]["_parentcustomerid_value"] == fake.ref("acme")


def test_unknown_or_reused_names_are_refused_and_nothing_is_kept() -> None:
    fake = FakeDataverse()
    with pytest.raises(SeedError, match='no earlier row has "\\$ref": "nobody"'):
        fake.seed(
            "contact",
            [
                {"$ref": "kept?", "lastname": "First"},
                {"lastname": "Lee", "parentcustomerid": "$nobody"},
            ],
        )
    assert fake.rows("contact") == []
    with pytest.raises(SeedError, match="no earlier row"):
        fake.seed("lead", [{"subject": "x", "parentcontactid": "$kept?"}])  # rolled back too
    fake.seed("account", [{"$ref": "acme", "name": "Acme"}])
    with pytest.raises(SeedError, match="already names a account row"):
        fake.seed("account", [{"$ref": "acme", "name": "Again"}])
    with pytest.raises(SeedError, match="not both"):
        fake.seed(
            "account",
            [{"$ref": "other", "accountid": "11111111-1111-1111-1111-111111111111", "name": "X"}],
        )


def test_reset_forgets_names() -> None:
    fake = FakeDataverse()
    fake.seed("account", [{"$ref": "acme", "name": "Acme"}])
    fake.reset()
    fake.seed("account", [{"$ref": "acme", "name": "Acme again"}])
    row = fake.get("account", fake.ref("acme"))
    assert row is not None and row["name"] == "Acme again"
