"""Raw-HTTP access to a fake Dataverse run as a subprocess, for ``bench/chaos.py``.

Nothing here imports the client: the chaos harness drives and checks the fake only through
its ``/_fake/`` control plane and the plain Web API, so a bug in the client cannot hide itself.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import requests

__all__ = ["FakeProcess"]

TOKEN = "chaos-token"


class FakeProcess:
    """``python -m d365leads.fake`` on a free port of 127.0.0.1, and plain HTTP to it."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "d365leads.fake", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.proc.kill()
            raise RuntimeError(f"the fake did not start (first line {self.url!r})")
        self.api = self.url + "/api/data/v9.2/"
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {TOKEN}"
        self.alternate_keys: set[tuple[str, str]] = set()
        """Alternate keys declared on this fake (schema outlives ``reset``)."""

    def close(self) -> None:
        """Stop the server and wait for it."""
        self.http.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> FakeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- control plane -------------------------------------------------------------------

    def _control(self, method: str, name: str, body: Any = None) -> Any:
        response = self.http.request(method, f"{self.url}/_fake/{name}", json=body, timeout=30)
        if response.status_code >= 400:
            raise RuntimeError(f"/_fake/{name}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def reset(self) -> None:
        """Forget all data, the journal, faults and throttling state."""
        self._control("POST", "reset")

    def seed(self, table: str, rows: list[dict[str, Any]]) -> list[str]:
        """Seed rows (bypassing business rules); their ids in order."""
        ids: list[str] = self._control("POST", "seed", {table: rows})[table]
        return ids

    def declare_alternate_key(self, table: str, column: str) -> None:
        """Declare an alternate key of ``table`` on ``column`` (it outlives :meth:`reset`)."""
        self._control("POST", "seed", {"$schema": {"alternate_keys": [[table, [column]]]}})
        self.alternate_keys.add((table, column))

    def applied(self, table: str) -> dict[str, Any]:
        """What the org applied per record of ``table``: state transitions, QualifyLead and
        creates per alternate-key value (``GET /_fake/applied``)."""
        data: dict[str, Any] = self._control("GET", f"applied?table={table}")
        return data

    def add_fault(self, spec: str) -> None:
        """Script a fault (``--fault`` syntax)."""
        self._control("POST", "faults", {"spec": spec})

    def clear_faults(self) -> None:
        """Remove every scripted fault."""
        self._control("DELETE", "faults")

    def stats(self) -> dict[str, Any]:
        """The fake's counters (requests, faults fired, early retries, pause left)."""
        data: dict[str, Any] = self._control("GET", "stats")
        return data

    # --- Web API ---------------------------------------------------------------------------

    def rows(self, entity_set: str, select: str) -> list[dict[str, Any]]:
        """Every row of an entity set (following nextLinks), ``select`` columns only."""
        url: str | None = f"{self.api}{entity_set}?$select={select}"
        out: list[dict[str, Any]] = []
        while url:
            response = self.http.get(url, headers={"Prefer": "odata.maxpagesize=5000"}, timeout=30)
            if response.status_code != 200:
                raise RuntimeError(f"GET {entity_set}: {response.status_code} {response.text}")
            page = response.json()
            out.extend(page["value"])
            url = page.get("@odata.nextLink")
        return out

    def create(self, entity_set: str, body: dict[str, Any]) -> None:
        """POST a row (a 2xx or a RuntimeError)."""
        response = self.http.post(self.api + entity_set, json=body, timeout=30)
        if response.status_code >= 300:
            raise RuntimeError(f"POST {entity_set}: {response.status_code} {response.text}")

    def update(self, entity_set: str, key: str, body: dict[str, Any]) -> None:
        """PATCH a row (a 2xx or a RuntimeError)."""
        response = self.http.patch(
            f"{self.api}{entity_set}({key})", json=body, headers={"If-Match": "*"}, timeout=30
        )
        if response.status_code >= 300:
            raise RuntimeError(f"PATCH {entity_set}({key}): {response.status_code}")

    def delete(self, entity_set: str, key: str) -> None:
        """DELETE a row (a 2xx or a RuntimeError)."""
        response = self.http.delete(f"{self.api}{entity_set}({key})", timeout=30)
        if response.status_code >= 300:
            raise RuntimeError(f"DELETE {entity_set}({key}): {response.status_code}")
