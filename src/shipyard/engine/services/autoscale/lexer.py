"""Tokens of an autoscale formula, each with the line and column it starts at.

Formulas may hold line breaks and ``//`` or ``/* */`` comments (the service's examples
use both). Names start with a letter, ``_`` or ``$``; numbers are decimal with an optional
fraction and exponent; strings are double-quoted. Errors are ``FormulaError`` with the
position, worded like the service's "Line 1, Col 5: ..." messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from shipyard.errors import ConfigError

#: The service's limit on a formula's length (AutoScaleFormulaTooLong beyond it).
MAX_FORMULA_CHARS = 8192


class ErrorKind(Enum):
    """Why a formula failed: the service answers each one differently."""

    SYNTAX = "syntax"
    """The text does not parse: the request is refused (400)."""
    EVALUATION = "evaluation"
    """It parses but fails when run (types, names, arguments): shown in ``autoScaleRun``."""
    SAMPLES = "samples"
    """A ``GetSample`` found fewer samples than it demanded: shown in ``autoScaleRun``."""


class FormulaError(ConfigError):
    """A formula that does not parse or fails to evaluate, with where it went wrong."""

    def __init__(self, kind: ErrorKind, line: int, col: int, reason: str) -> None:
        super().__init__(f"Line {line}, Col {col}: {reason}")
        self.kind = kind
        self.line = line
        self.col = col
        self.reason = reason


class Kind(Enum):
    NUMBER = "number"
    STRING = "string"
    NAME = "name"
    OP = "operator"
    END = "end of formula"


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str
    line: int
    col: int


#: Longest operators first, so ``<=`` is never read as ``<`` then ``=``.
_OPERATORS = ("&&", "||", "==", "!=", "<=", ">=", "+", "-", "*", "/", "<", ">", "=", "!",
              "?", ":", ";", ",", ".", "(", ")")
_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_NAME = re.compile(r"[A-Za-z_$][A-Za-z0-9_]*")
_SPACE = re.compile(r"\s+")


def tokenize(text: str) -> list[Token]:
    """All tokens of ``text``, ending with one ``END`` token."""
    tokens: list[Token] = []
    pos, line, line_start = 0, 1, 0
    while pos < len(text):
        col = pos - line_start + 1
        skipped = _skip(text, pos, line, col)
        if skipped != pos:
            line += text.count("\n", pos, skipped)
            if "\n" in text[pos:skipped]:
                line_start = text.rindex("\n", pos, skipped) + 1
            pos = skipped
            continue
        token = _one(text, pos, line, col)
        tokens.append(token)
        pos += len(token.text) + (2 if token.kind is Kind.STRING else 0)
    tokens.append(Token(Kind.END, "", line, pos - line_start + 1))
    return tokens


def _skip(text: str, pos: int, line: int, col: int) -> int:
    """The position after any white space or comment at ``pos`` (``pos`` if none)."""
    space = _SPACE.match(text, pos)
    if space:
        return space.end()
    if text.startswith("//", pos):
        end = text.find("\n", pos)
        return len(text) if end < 0 else end
    if text.startswith("/*", pos):
        end = text.find("*/", pos + 2)
        if end < 0:
            raise FormulaError(ErrorKind.SYNTAX, line, col, "Unterminated comment")
        return end + 2
    return pos


def _one(text: str, pos: int, line: int, col: int) -> Token:
    if text[pos] == '"':
        end = text.find('"', pos + 1)
        if end < 0 or "\n" in text[pos:end]:
            raise FormulaError(ErrorKind.SYNTAX, line, col, "Unterminated string")
        return Token(Kind.STRING, text[pos + 1:end], line, col)
    for pattern, kind in ((_NUMBER, Kind.NUMBER), (_NAME, Kind.NAME)):
        match = pattern.match(text, pos)
        if match:
            return Token(kind, match.group(), line, col)
    for op in _OPERATORS:
        if text.startswith(op, pos):
            return Token(Kind.OP, op, line, col)
    raise FormulaError(ErrorKind.SYNTAX, line, col, f"Unexpected character '{text[pos]}'")
