"""Base classes for request/response schemas, the shared error/list shapes, and the text types
every schema uses.

``defer_build`` postpones building each model's validator to its first use, which keeps the
cold import of the app small (there are many schemas; most requests touch a few).

Text input (DESIGN.md, API conventions): every string a client sends is one of

- :data:`Name` — a name, label or short place/department text: no control characters at all
  (C0, C1, DEL), no bidi overrides/isolates, no zero-width or other format characters, no line
  or paragraph separators — the characters that can make a name look like another on screen;
- :data:`Text` — free text (messages, bios, reasons, notes): the same, except newline and tab;
- :data:`Token` — an opaque identifier (ids, codes, cursors): printable ASCII, no spaces;
- :data:`Digits` helpers — numeric identifiers accept ASCII digits only (full-width digits
  are folded to ASCII first, so ``１３８…`` and ``138…`` are the same phone everywhere).

``tests/test_text_input.py`` proves every string field of every request schema is one of them.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema

# Unicode categories refused in any text: Cc (C0/C1 controls, DEL), Cf (format: bidi embeddings,
# overrides and isolates, zero-width space/joiners, BOM, soft hyphen…), Cs (lone surrogates),
# Co (private use), Cn (unassigned), Zl/Zp (line and paragraph separators).
_REFUSED = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_TEXT_CONTROLS_ALLOWED = frozenset("\n\t")
_FULLWIDTH_DIGITS = {0xFF10 + i: ord("0") + i for i in range(10)}


def _refused_char(value: str, allowed: frozenset[str] = frozenset()) -> str | None:
    for ch in value:
        if ch not in allowed and unicodedata.category(ch) in _REFUSED:
            return ch
    return None


def check_name(value: str) -> str:
    bad = _refused_char(value)
    if bad is not None:
        raise ValueError(f"must not contain control, bidi or invisible characters (U+{ord(bad):04X})")
    return value


def check_text(value: str) -> str:
    value = value.replace("\r\n", "\n")
    bad = _refused_char(value, _TEXT_CONTROLS_ALLOWED)
    if bad is not None:
        raise ValueError(f"must not contain control, bidi or invisible characters other than newline and tab "
                         f"(U+{ord(bad):04X})")
    return value


def fold_digits(value: Any) -> Any:
    """Full-width digits (０-９, as Chinese IMEs type them) become ASCII; any other non-ASCII digit
    is left in place for the ASCII-only pattern to refuse."""
    return value.translate(_FULLWIDTH_DIGITS) if isinstance(value, str) else value


def ascii_digits(value: str) -> bool:
    return value.isascii() and value.isdigit()


Name = Annotated[str, AfterValidator(check_name)]
Text = Annotated[str, AfterValidator(check_text)]
Token = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]+$")]
DigitString = Annotated[str, BeforeValidator(fold_digits), StringConstraints(pattern=r"^[0-9]+$")]
"""Numeric identifiers (codes, numbers): ASCII digits only, full-width folded first."""

# Times in responses: RFC 3339 strings (stored UTC, shown Asia/Shanghai) and calendar dates.
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
DateStr = Annotated[str, WithJsonSchema({"type": "string", "format": "date"})]
TimeStr = Annotated[str, WithJsonSchema({"type": "string", "format": "time"})]

TEXT_TYPES = (check_name, check_text)


class Request(BaseModel):
    """Request bodies and query strings: unknown fields are an error, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class Response(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class ListQuery(Request):
    limit: int | None = None
    cursor: Token | None = None


class Ok(Response):
    ok: bool = True


class ValidationIssue(Response):
    """One problem pydantic found in a request body or query string."""

    type: str
    loc: list[str | int]
    msg: str


class ErrorDetail(Response):
    code: str
    message: str
    request_id: str
    details: list[ValidationIssue] | None = Field(default=None, description="validation_error: each problem found")


class Error(Response):
    """Every error answer: ``{"error": {"code", "message", "request_id"}}``."""

    error: ErrorDetail


ErrorBody = Error
