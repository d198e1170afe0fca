"""``any``/``all`` over a collection-valued navigation in ``$filter``:
``Account_Tasks/any(t:t/subject eq 'Call')``, ``contact_customer_accounts/all(c:c/statecode eq
0)``, ``Account_Tasks/any()`` (at least one related row).

https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/filter-rows
(Filter using values of related collections).  The body is parsed over the related table,
with ``<var>/`` in front of its properties.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.fault import not_implemented, property_not_found
from ..org.schema import Relationship, Table
from .odata_lexer import Token, syntax_error

__all__ = ["Lambda", "parse_lambda"]


@dataclass(frozen=True)
class Lambda:
    """``<nav>/any(v:body)`` or ``<nav>/all(v:body)``; ``body`` is ``None`` for ``any()``."""

    kind: str
    relationship: Relationship
    target: Table
    body: Any


def parse_lambda(parser: Any, tok: Token) -> Lambda:
    """Parse ``<nav>/any(...)``/``<nav>/all(...)`` at ``tok`` (the navigation) for ``parser``."""
    env, table = parser.env, parser.table
    nav = tok.text
    kind = parser.tokens[parser.i + 2].text
    if table.navigation(nav) is not None:
        raise syntax_error(
            f"'{nav}' is a single-valued navigation property; {kind}() needs a collection-valued "
            f"one (in '{parser.text}')."
        )
    if env is None or env.relationship is None or env.table_of is None:
        raise not_implemented(f"the lambda operator '{nav}/{kind}(...)' here")
    relationship = env.relationship(table.logical_name, nav)
    if relationship is None:
        raise property_not_found(nav, table.logical_name)
    target = env.table_of(relationship.referencing)
    assert target is not None
    parser.i += 3
    tokens: list[Token] = parser.tokens
    if parser.i >= len(tokens) or tokens[parser.i].kind != "lparen":
        raise syntax_error(f"'(' expected after '{nav}/{kind}' in '{parser.text}'.")
    depth, close = 0, parser.i
    for close in range(parser.i, len(tokens)):
        depth += {"lparen": 1, "rparen": -1}.get(tokens[close].kind, 0)
        if depth == 0:
            break
    if depth != 0:
        raise syntax_error(f"')' expected at the end of '{parser.text}'.")
    inner = tokens[parser.i + 1 : close]
    body = None
    if inner:
        if len(inner) < 3 or inner[0].kind != "ident" or inner[1].text != ":":
            raise syntax_error(
                f"The lambda expression in '{parser.text}' must read {nav}/{kind}(x:x/<column> …)."
            )
        text = parser.text[inner[1].pos + 1 : tokens[close].pos]
        sub = type(parser)(text, target, parser.aliases, parser.accept_quoted_guid, env)
        sub.lambda_var = inner[0].text
        body = sub.parse()
    elif kind == "all":
        raise syntax_error(f"all() needs a condition in '{parser.text}'.")
    parser.i = close + 1
    return Lambda(kind, relationship, target, body)
