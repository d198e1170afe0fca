"""Matching live requests against recorded ones, play-once and in order.

A request matches a recorded interaction when method, path, the sorted query, the canonical body
(JSON with sorted keys; ``$batch`` boundaries normalised) and the headers that change semantics
(``Prefer``, ``If-Match``, ``If-None-Match``, ``MSCRM.*``) are equal after the same redaction that
was applied when recording. Each recorded interaction answers once; among equal candidates the
earliest unused one answers, so paging and polling replay their recorded sequence.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from d365leads.cassette.model import Interaction, RecordedRequest

__all__ = ["MatchKey", "Matcher", "NoMatchError", "match_key"]

_SEMANTIC_HEADERS = ("prefer", "if-match", "if-none-match", "consistency")


@dataclass(frozen=True)
class MatchKey:
    """The comparable form of a request."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    body: str
    headers: tuple[tuple[str, str], ...]


def _canonical_body(body: Any) -> str:
    if body is None or body == "":
        return ""
    if isinstance(body, str):
        return body.replace("\r\n", "\n").strip()
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _canonical_prefer(value: str) -> str:
    return ",".join(sorted(p.strip() for p in value.split(",") if p.strip()))


def match_key(request: RecordedRequest) -> MatchKey:
    """Normalise a (redacted) request for comparison."""
    headers = []
    for name, value in sorted(request.headers.items()):
        lname = name.lower()
        if lname in _SEMANTIC_HEADERS or lname.startswith("mscrm."):
            headers.append((lname, _canonical_prefer(value) if lname == "prefer" else value))
    return MatchKey(
        method=request.method.upper(),
        path=request.path.rstrip("/").lower(),
        query=tuple(sorted(request.query)),
        body=_canonical_body(request.body),
        headers=tuple(headers),
    )


class NoMatchError(LookupError):
    """No unused recorded interaction matches; the message names the closest one."""


def _differences(live: MatchKey, recorded: MatchKey) -> list[str]:
    diffs: list[str] = []
    if live.method != recorded.method:
        diffs.append(f"method {live.method} != recorded {recorded.method}")
    if live.path != recorded.path:
        diffs.append(f"path {live.path!r} != recorded {recorded.path!r}")
    if live.query != recorded.query:
        live_q, rec_q = dict(live.query), dict(recorded.query)
        for name in sorted(set(live_q) | set(rec_q)):
            if live_q.get(name) != rec_q.get(name):
                diffs.append(f"query {name}: {live_q.get(name)!r} != recorded {rec_q.get(name)!r}")
    if live.headers != recorded.headers:
        live_h, rec_h = dict(live.headers), dict(recorded.headers)
        for name in sorted(set(live_h) | set(rec_h)):
            if live_h.get(name) != rec_h.get(name):
                diffs.append(f"header {name}: {live_h.get(name)!r} != recorded {rec_h.get(name)!r}")
    if live.body != recorded.body:
        diffs.extend(_body_differences(live.body, recorded.body))
    return diffs


def _body_differences(live: str, recorded: str) -> list[str]:
    """Name the JSON members that differ; for other bodies, show where the text diverges."""
    try:
        live_json, recorded_json = json.loads(live or "null"), json.loads(recorded or "null")
    except ValueError:
        live_json = recorded_json = None
    if isinstance(live_json, dict) and isinstance(recorded_json, dict):
        names = sorted(
            n
            for n in set(live_json) | set(recorded_json)
            if live_json.get(n, _MISSING) != recorded_json.get(n, _MISSING)
        )
        return [
            f"body {n}: {_show(live_json.get(n, _MISSING))} != recorded "
            f"{_show(recorded_json.get(n, _MISSING))}"
            for n in names
        ]
    start = next(
        (i for i, (a, b) in enumerate(zip(live, recorded, strict=False)) if a != b),
        min(len(live), len(recorded)),
    )
    at = max(0, start - 40)
    where = f" (from character {start})" if start else ""
    return [f"body{where} {_clip(live[at:])} != recorded {_clip(recorded[at:])}"]


_MISSING = object()


def _show(value: Any) -> str:
    return "(absent)" if value is _MISSING else _clip(json.dumps(value, ensure_ascii=False))


def _clip(text: str, limit: int = 160) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


class Matcher:
    """Answers live requests from a cassette, each interaction at most once (unless repeats)."""

    def __init__(self, interactions: list[Interaction], *, allow_repeats: bool = False) -> None:
        self._interactions = list(interactions)
        self._keys = [match_key(i.request) for i in self._interactions]
        self._used = [False] * len(self._interactions)
        self._allow_repeats = allow_repeats
        self._lock = threading.Lock()

    @property
    def unused(self) -> list[Interaction]:
        """Recorded interactions that have not answered yet."""
        return [i for i, used in zip(self._interactions, self._used, strict=True) if not used]

    def find(self, request: RecordedRequest) -> Interaction:
        """Return the interaction that answers ``request``; raise :class:`NoMatchError`."""
        key = match_key(request)
        with self._lock:
            for index, recorded in enumerate(self._keys):
                if recorded == key and (not self._used[index] or self._allow_repeats):
                    self._used[index] = True
                    return self._interactions[index]
            raise NoMatchError(self._explain(key))

    def _explain(self, key: MatchKey) -> str:
        head = f"no recorded interaction matches {key.method} {key.path}"
        if not self._keys:
            return head + " (the cassette is empty)"
        # Fewest differences wins; among equals an interaction not yet replayed (the one the
        # code under test most likely meant), then the earliest.
        best_index = -1
        best_diffs: list[str] = []
        best_rank: tuple[int, bool] = (0, False)
        for index, recorded in enumerate(self._keys):
            diffs = _differences(key, recorded)
            rank = (len(diffs), self._used[index] and not self._allow_repeats)
            if best_index < 0 or rank < best_rank:
                best_index, best_diffs, best_rank = index, diffs, rank
        closest = self._keys[best_index]
        used = " (already used)" if self._used[best_index] and not best_diffs else ""
        detail = "; ".join(best_diffs) if best_diffs else "identical, but already replayed"
        return (
            f"{head}. Closest recorded interaction #{best_index + 1}{used}: "
            f"{closest.method} {closest.path}; differs in: {detail}"
        )
