"""Compare an actual Web API answer with a documented one.

The documented body is the reference. Its keys and JSON types must match exactly (an extra or a
missing key is a difference). Values that depend on the org are compared by pattern, decided from
the documented value itself:

* a GUID must be a GUID, and must be *the same* GUID when the exchange's seed or request names it
  (the docs' own ids are seeded wherever the docs show them);
* ``W/"<n>"`` must be a weak ETag; an ISO date-time must be an ISO UTC date-time;
* a URL under ``[Organization URI]`` must have the same path (GUIDs as above) and the same query
  options, ``$skiptoken``/``$deltatoken`` values excepted (opaque by design).

Everything else must be equal. Rows of an array may come in any order unless the path is listed
in ``ordered`` (the request orders them). An exchange may loosen named paths only: ``vary``
(type only, for values the docs themselves call org-specific, such as a user's name),
``patterns`` (a regular expression), ``truncated`` (the docs cut the array short) and ``open``
(the docs elide keys).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_GUID_RE = re.compile(GUID)
_GUID_FULL = re.compile(rf"\{{?({GUID})\}}?")
_ETAG = re.compile(r'W/"\d+"')
_DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")
_ORG_TOKEN = re.compile(r"(https://)?\[Organization (URI|Uri|uri)\]")
_SERVICE_ROOT = re.compile(r"(https://)?\[Organization (URI|Uri|uri)\]/api/data/v9\.\d/")
_OPAQUE_OPTIONS = {"$skiptoken", "$deltatoken"}


def expand_org(text: str, base_url: str) -> str:
    """Put the fake's service root in place of ``[Organization URI]/api/data/v9.x/``."""
    org = base_url.split("/api/data/")[0]
    return _ORG_TOKEN.sub(org, _SERVICE_ROOT.sub(base_url, text))


def expand_tree(value: Any, base_url: str) -> Any:
    """:func:`expand_org` on every string of a JSON tree."""
    if isinstance(value, str):
        return expand_org(value, base_url)
    if isinstance(value, list):
        return [expand_tree(v, base_url) for v in value]
    if isinstance(value, dict):
        return {expand_org(k, base_url): expand_tree(v, base_url) for k, v in value.items()}
    return value


def guids_in(value: Any) -> set[str]:
    """Every GUID written anywhere in a JSON tree or string (lower case)."""
    text = value if isinstance(value, str) else json.dumps(value)
    return {g.lower() for g in _GUID_RE.findall(text)}


@dataclass
class Rules:
    """Per-exchange loosening, by JSON path (``/value/*/name``; ``*`` matches any key or index)."""

    known_guids: set[str] = field(default_factory=set)
    base_url: str = ""
    vary: Sequence[str] = ()
    patterns: Mapping[str, str] = field(default_factory=dict)
    truncated: Sequence[str] = ()
    open: Sequence[str] = ()
    ordered: Sequence[str] = ()

    def matches(self, selectors: Sequence[str], path: str) -> bool:
        return any(_path_match(s, path) for s in selectors)

    def pattern(self, path: str) -> str | None:
        for selector, regex in self.patterns.items():
            if _path_match(selector, path):
                return regex
        return None


def _path_match(selector: str, path: str) -> bool:
    want = selector.strip("/").split("/")
    got = path.strip("/").split("/")
    return len(want) == len(got) and all(w in ("*", g) for w, g in zip(want, got, strict=True))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def compare(expected: Any, actual: Any, rules: Rules, path: str = "") -> list[str]:
    """The differences between a documented JSON value and an actual one (empty: conforms)."""
    where = path or "/"
    regex = rules.pattern(path)
    if regex is not None:
        text = actual if isinstance(actual, str) else json.dumps(actual)
        if re.fullmatch(regex, text) is None:
            return [f"{where}: {actual!r} does not match the pattern {regex!r}"]
        return []
    if rules.matches(rules.vary, path):
        if expected is not None and _kind(expected) != _kind(actual):
            return [f"{where}: expected a {_kind(expected)}, got {actual!r}"]
        return []
    if _kind(expected) != _kind(actual):
        return [f"{where}: expected {_kind(expected)} {expected!r}, got {actual!r}"]
    if isinstance(expected, dict):
        return _compare_object(expected, actual, rules, path)
    if isinstance(expected, list):
        return _compare_array(expected, actual, rules, path)
    if isinstance(expected, str):
        return _compare_string(expected, actual, rules, where)
    if isinstance(expected, float) or isinstance(actual, float):
        same = abs(float(expected) - float(actual)) <= 1e-9 * max(1.0, abs(float(expected)))
        return [] if same else [f"{where}: expected {expected!r}, got {actual!r}"]
    return [] if expected == actual else [f"{where}: expected {expected!r}, got {actual!r}"]


def _compare_object(
    expected: dict[str, Any], actual: dict[str, Any], rules: Rules, path: str
) -> list[str]:
    problems: list[str] = []
    missing = [k for k in expected if k not in actual]
    extra = [k for k in actual if k not in expected]
    if missing:
        problems.append(f"{path or '/'}: missing key(s) {missing}")
    if extra and not rules.matches(rules.open, path):
        problems.append(f"{path or '/'}: unexpected key(s) {extra}")
    for key, value in expected.items():
        if key in actual:
            problems.extend(compare(value, actual[key], rules, f"{path}/{key}"))
    return problems


def _compare_array(expected: list[Any], actual: list[Any], rules: Rules, path: str) -> list[str]:
    where = path or "/"
    if rules.matches(rules.truncated, path):
        if len(actual) < len(expected):
            return [f"{where}: expected at least {len(expected)} item(s), got {len(actual)}"]
    elif len(actual) != len(expected):
        return [f"{where}: expected {len(expected)} item(s), got {len(actual)}: {actual!r}"]
    if rules.matches(rules.ordered, path) or not all(isinstance(i, dict) for i in expected):
        problems: list[str] = []
        for i, item in enumerate(expected):
            problems.extend(compare(item, actual[i], rules, f"{path}/{i}"))
        return problems
    # Rows in an unordered answer: match each documented row with a distinct actual row.
    free = list(range(len(actual)))
    problems = []
    for i, item in enumerate(expected):
        first: list[str] | None = None
        for j in free:
            found = compare(item, actual[j], rules, f"{path}/{i}")
            if not found:
                free.remove(j)
                break
            first = first if first is not None else found
        else:
            problems.extend(first or [f"{where}/{i}: no actual row left for {item!r}"])
    return problems


def _compare_string(expected: str, actual: str, rules: Rules, where: str) -> list[str]:
    guid = _GUID_FULL.fullmatch(expected)
    if guid is not None:
        got = _GUID_FULL.fullmatch(actual)
        if got is None:
            return [f"{where}: expected a GUID, got {actual!r}"]
        want = guid.group(1).lower()
        if want in rules.known_guids and got.group(1).lower() != want:
            return [f"{where}: expected the seeded id {expected}, got {actual}"]
        return []
    if _ETAG.fullmatch(expected):
        return [] if _ETAG.fullmatch(actual) else [f"{where}: {actual!r} is not a weak ETag"]
    if _DATETIME.fullmatch(expected):
        ok = _DATETIME.fullmatch(actual)
        return [] if ok else [f"{where}: {actual!r} is not an ISO UTC date-time"]
    if rules.base_url and expected.startswith(rules.base_url.split("/api/data/")[0]):
        return compare_url(expected, actual, rules, where)
    return [] if expected == actual else [f"{where}: expected {expected!r}, got {actual!r}"]


def _path_regex(expected_path: str, known: set[str]) -> re.Pattern[str]:
    out: list[str] = []
    last = 0
    for match in _GUID_RE.finditer(expected_path):
        out.append(re.escape(expected_path[last : match.start()]))
        value = match.group(0).lower()
        out.append(f"(?i:{re.escape(value)})" if value in known else GUID)
        last = match.end()
    out.append(re.escape(expected_path[last:]))
    return re.compile("".join(out))


def split_query(query: str) -> dict[str, str]:
    """Query options of a URL, percent-decoded (``+`` kept: Dataverse links never use it)."""
    options: dict[str, str] = {}
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            options[unquote(name)] = unquote(value)
    return options


def compare_url(expected: str, actual: str, rules: Rules, where: str) -> list[str]:
    """Same path (GUID rules) and same query options (opaque tokens excepted)."""
    exp_path, _, exp_query = expected.partition("?")
    act_path, _, act_query = actual.partition("?")
    problems: list[str] = []
    if _path_regex(exp_path, rules.known_guids).fullmatch(act_path) is None:
        problems.append(f"{where}: URL path {act_path!r} is not like {exp_path!r}")
    want, got = split_query(exp_query), split_query(act_query)
    if set(want) != set(got):
        problems.append(
            f"{where}: URL query options {sorted(got)} differ from the documented {sorted(want)}"
        )
    for name, value in want.items():
        if name in got and name not in _OPAQUE_OPTIONS:
            if _path_regex(value, rules.known_guids).fullmatch(got[name]) is None:
                problems.append(f"{where}: {name}={got[name]!r}, documented {value!r}")
        elif name in got and not got[name]:
            problems.append(f"{where}: {name} is empty")
    return problems


def _preferences(value: str) -> set[str]:
    return {p.strip().replace('"', "").replace(" ", "") for p in value.split(",") if p.strip()}


def compare_headers(
    expected: Mapping[str, str], actual: Mapping[str, str], rules: Rules, where: str = "headers"
) -> list[str]:
    """Each documented header is present with a conforming value."""
    lowered = {k.lower(): v for k, v in actual.items()}
    problems: list[str] = []
    for name, value in expected.items():
        got = lowered.get(name.lower())
        if got is None:
            problems.append(f"{where}: missing header {name!r}")
            continue
        regex = rules.pattern(f"header:{name}")
        lname = name.lower()
        if regex is not None:
            if re.fullmatch(regex, got.strip()) is None:
                problems.append(f"{where}: {name}: {got!r} does not match {regex!r}")
        elif lname == "content-type":
            want_type, *want_params = [p.strip() for p in str(value).split(";")]
            got_type, *got_params = [p.strip() for p in got.split(";")]
            if want_type.lower() != got_type.lower() or not set(want_params) <= set(got_params):
                problems.append(f"{where}: Content-Type {got!r}, documented {value!r}")
        elif lname == "preference-applied":
            if _preferences(str(value)) != _preferences(got):
                problems.append(f"{where}: Preference-Applied {got!r}, documented {value!r}")
        else:
            problems.extend(compare(str(value), got.strip(), rules, f"{where}:{name}"))
    return problems
