"""OData list options of the Batch data plane: ``$filter`` and ``$select`` (paging: ``paging``).

Pure functions over resources in their wire form (camelCase dicts). The HTTP layer
decodes the query, calls these, and turns ``FilterError`` into a 400
``InvalidQueryParameterValue`` naming ``FilterError.parameter``.

``$filter`` grammar (keywords case-insensitive, whitespace free-form)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := unary ("and" unary)*
    unary      := "not" unary | "(" expr ")" | call | comparison
    call       := ("startswith" | "endswith") "(" prop "," string ")" [("eq"|"ne") bool]
    comparison := prop ("eq"|"ne"|"gt"|"ge"|"lt"|"le") literal
    prop       := name (("/" | ".") name)*          e.g. executionInfo/exitCode
    literal    := 'text' ('' escapes ') | integer | decimal | true | false
                | datetime'2026-01-01T00:00:00Z' | 2026-01-01T00:00:00Z

A property the resource does not have makes its comparison false (not an error),
as does a type mismatch. Example::

    >>> parse_filter("state eq 'active' and startswith(id,'batch_')")({"id": "batch_1",
    ...     "state": "active"})
    True
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final, NamedTuple

from shipyard.engine.model.wire import parse_datetime
from shipyard.errors import ConfigError

Predicate = Callable[[Mapping[str, Any]], bool]

class FilterError(ConfigError):
    """An OData query option (``$filter``, ``$skiptoken``, ``maxresults``) is invalid."""

    def __init__(self, message: str, parameter: str = "$filter", value: str = "") -> None:
        super().__init__(message)
        self.parameter = parameter
        self.value = value


_TOKEN_RE: Final = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<string>'(?:[^']|'')*')
    | (?P<datetime>datetime'[^']*')
    | (?P<isodate>\d{4}-\d{2}-\d{2}T[0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<name>[A-Za-z_]\w*(?:[./][A-Za-z_]\w*)*)
    | (?P<punct>[(),])
    """,
    re.VERBOSE | re.IGNORECASE,
)

_COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "ge": operator.ge,
    "lt": operator.lt,
    "le": operator.le,
}
_FUNCTIONS: Final[dict[str, Callable[[str, str], bool]]] = {
    "startswith": str.startswith,
    "endswith": str.endswith,
}
_MISSING: Final = object()


class _Token(NamedTuple):
    kind: str
    text: str
    pos: int


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None or match.lastgroup is None:
            what = "unterminated string" if text[pos] == "'" else f"unexpected {text[pos]!r}"
            raise _syntax_error(text, pos, what)
        if match.lastgroup != "space":
            tokens.append(_Token(match.lastgroup, match.group(), pos))
        pos = match.end()
    return tokens


def _syntax_error(text: str, pos: int, what: str) -> FilterError:
    return FilterError(f"invalid $filter: {what} at position {pos} in {text!r}", value=text)


def _string_value(literal: str) -> str:
    """The text of a quoted OData string: quotes removed, doubled quotes undone."""
    return literal[1:-1].replace("''", "'")


def _lookup(item: Mapping[str, Any], path: str) -> Any:
    """The value at a ``/``- or ``.``-separated path, or ``_MISSING``."""
    value: Any = item
    for part in re.split(r"[./]", path):
        if not isinstance(value, Mapping):
            return _MISSING
        if part not in value:
            # Property names are matched case-insensitively as a fallback, so a user's
            # "ExecutionInfo/ExitCode" still finds "executionInfo"/"exitCode".
            part = next((key for key in value if key.lower() == part.lower()), part)
        value = value.get(part, _MISSING)
    return value


def _coerce(actual: Any, expected: Any) -> Any:
    """``actual`` in ``expected``'s type, or ``_MISSING`` when they cannot be compared."""
    if actual is _MISSING or actual is None:
        return _MISSING
    if isinstance(expected, bool) or isinstance(actual, bool):
        return actual if isinstance(actual, bool) and isinstance(expected, bool) else _MISSING
    if isinstance(expected, datetime):
        return _as_datetime(actual)
    if isinstance(expected, int | float):
        return _as_number(actual)
    return actual if isinstance(actual, str) else _MISSING


def _as_datetime(actual: Any) -> Any:
    try:
        return parse_datetime(actual) if isinstance(actual, str) else _MISSING
    except ConfigError:
        return _MISSING


def _as_number(actual: Any) -> Any:
    if isinstance(actual, int | float):
        return actual
    # File lists carry contentLength as a string; compare it as the number it is.
    try:
        return float(actual) if "." in actual else int(actual)
    except (TypeError, ValueError):
        return _MISSING


def _comparison(path: str, op: str, expected: Any) -> Predicate:
    compare = _COMPARISONS[op]

    def predicate(item: Mapping[str, Any]) -> bool:
        actual = _coerce(_lookup(item, path), expected)
        return actual is not _MISSING and bool(compare(actual, expected))

    return predicate


def _call(name: str, path: str, argument: str) -> Predicate:
    function = _FUNCTIONS[name]

    def predicate(item: Mapping[str, Any]) -> bool:
        actual = _lookup(item, path)
        return isinstance(actual, str) and function(actual, argument)

    return predicate


class _Parser:
    """Recursive descent over the token list; one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def parse(self) -> Predicate:
        if not self.tokens:
            raise _syntax_error(self.text, 0, "empty expression")
        predicate = self.or_expr()
        if self.index < len(self.tokens):
            raise self.error(f"unexpected {self.tokens[self.index].text!r}")
        return predicate

    def error(self, what: str) -> FilterError:
        token = self.current()
        return _syntax_error(self.text, token.pos if token else len(self.text), what)

    def current(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def peek_keyword(self) -> str:
        token = self.current()
        return token.text.lower() if token is not None and token.kind == "name" else ""

    def take(self, kind: str, what: str) -> _Token:
        token = self.current()
        if token is None or token.kind != kind or (kind == "punct" and token.text != what):
            found = repr(token.text) if token else "end of input"
            raise self.error(f"expected {what}, found {found}")
        self.index += 1
        return token

    def or_expr(self) -> Predicate:
        return self.chain("or", self.and_expr, any)

    def and_expr(self) -> Predicate:
        return self.chain("and", self.unary, all)

    def chain(self, keyword: str, operand: Callable[[], Predicate],
              combine: Callable[[Iterable[bool]], bool]) -> Predicate:
        """``operand (keyword operand)*``: one term as it is, several joined by ``combine``."""
        terms = [operand()]
        while self.peek_keyword() == keyword:
            self.index += 1
            terms.append(operand())
        return terms[0] if len(terms) == 1 else lambda item: combine(t(item) for t in terms)

    def unary(self) -> Predicate:
        if self.peek_keyword() == "not":
            self.index += 1
            inner = self.unary()
            return lambda item: not inner(item)
        token = self.current()
        if token is not None and token.text == "(":
            self.index += 1
            inner = self.or_expr()
            self.take("punct", ")")
            return inner
        if self.peek_keyword() in _FUNCTIONS:
            return self.call()
        return self.comparison()

    def call(self) -> Predicate:
        name = self.take("name", "a function").text.lower()
        self.take("punct", "(")
        path = self.take("name", "a property name").text
        self.take("punct", ",")
        argument = self.take("string", f"a quoted string as {name}'s second argument").text
        self.take("punct", ")")
        predicate = _call(name, path, _string_value(argument))
        if self.peek_keyword() not in ("eq", "ne"):
            return predicate
        # OData also allows the explicit form: startswith(id,'x') eq true.
        op = self.take("name", "eq or ne").text.lower()
        wanted = self.literal()
        if not isinstance(wanted, bool):
            self.index -= 1  # point the error at the offending literal
            raise self.error(f"{name}(...) {op} needs true or false")
        return predicate if wanted == (op == "eq") else lambda item: not predicate(item)

    def comparison(self) -> Predicate:
        path = self.take("name", "a property name or function").text
        op = self.peek_keyword()
        if op not in _COMPARISONS:
            raise self.error("expected eq, ne, gt, ge, lt or le")
        self.index += 1
        return _comparison(path, op, self.literal())

    def literal(self) -> Any:
        token = self.current()
        if token is None:
            raise self.error("expected a value, found end of input")
        self.index += 1
        if token.kind == "string":
            return _string_value(token.text)
        if token.kind == "number":
            return float(token.text) if "." in token.text else int(token.text)
        if token.kind in ("datetime", "isodate"):
            return self.datetime_literal(token)
        if token.kind == "name" and token.text.lower() in ("true", "false"):
            return token.text.lower() == "true"
        self.index -= 1
        raise self.error(f"expected a value, found {token.text!r}")

    def datetime_literal(self, token: _Token) -> datetime:
        body = token.text[token.text.index("'") + 1 : -1] if "'" in token.text else token.text
        try:
            return parse_datetime(body)
        except ConfigError:
            self.index -= 1
            raise self.error(f"invalid datetime {body!r}") from None


def parse_filter(text: str) -> Predicate:
    """Compile a ``$filter`` expression (already %-decoded) into a predicate."""
    return _Parser(text).parse()


def apply_select(item: Mapping[str, Any], select: str | None) -> dict[str, Any]:
    """Keep only the named top-level properties (``"id, state"``), in the item's order.

    Names match case-insensitively; unknown names are ignored. ``odata.*`` annotations
    are always kept, as the service keeps ``odata.metadata`` on a single GET with
    ``$select`` (it drops ``url``/``eTag`` like any unselected property).
    """
    wanted = {name.strip().lower() for name in (select or "").split(",") if name.strip()}
    if not wanted:
        return dict(item)
    return {
        key: value
        for key, value in item.items()
        if key.lower() in wanted or key.startswith("odata.")
    }

