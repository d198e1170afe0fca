"""Service-protection limits count per effective caller: a token, or an impersonated user."""

from __future__ import annotations

import pytest
import requests

from d365leads.fake import FakeDataverse
from d365leads.fake.core.options import FakeOptions


def _who_am_i(fake: FakeDataverse, token: str, caller: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"}
    if caller is not None:
        headers["MSCRMCallerID"] = caller
    return requests.get(
        f"{fake.org_url}/api/data/v9.2/WhoAmI", headers=headers, timeout=5
    ).status_code


@pytest.mark.parametrize("spreads", [False, True])
def test_impersonated_users_share_or_split_the_tokens_limits(spreads: bool) -> None:
    fake = FakeDataverse(
        options=FakeOptions(max_requests=2, window_s=60.0, impersonation_spreads_limits=spreads)
    )
    users = fake.seed("systemuser", [{"fullname": "Ana"}, {"fullname": "Ben"}])
    with fake.mock():
        assert [_who_am_i(fake, "app", users[0]) for _ in range(2)] == [200, 200]
        assert _who_am_i(fake, "app", users[0]) == 429
        # Another user through the same token: its own limits only when the switch is on.
        assert _who_am_i(fake, "app", users[1]) == (200 if spreads else 429)
        # Another token is another caller either way.
        assert _who_am_i(fake, "other-app") == 200
