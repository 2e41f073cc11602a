"""Opaque cursors and one-Query pages.

A cursor is the DynamoDB ``LastEvaluatedKey`` as url-safe base64 JSON. Reading exactly one page
per request keeps list routes at one Query even when a filter drops items.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .errors import BadRequest

T = TypeVar("T")
DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@dataclass
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(key: dict | None) -> str | None:
    if not key:
        return None
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str | None) -> dict | None:
    if not cursor:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeError):
        raise BadRequest("cursor is not valid", code="invalid_cursor")
    if not isinstance(key, dict) or not all(isinstance(v, dict) for v in key.values()):
        raise BadRequest("cursor is not valid", code="invalid_cursor")
    return key


def parse_limit(raw: str | int | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest("limit must be an integer", code="invalid_limit")
    if not 1 <= value <= MAX_LIMIT:
        raise BadRequest(f"limit must be between 1 and {MAX_LIMIT}", code="invalid_limit")
    return value


def query_page(model: Any, query: Callable[..., Any], *args: Any, limit: int, cursor: str | None, **kwargs: Any) -> Page:
    """Run ``query(*args, **kwargs)`` (a Model/Index ``query``) and read exactly one page.

    The result's page iterator is read once rather than iterating items: PynamoDB's ``limit``
    would keep querying until ``limit`` items passed the filter, an unbounded read when a filter
    drops most items. This is the one place that knows it (services only see ``Page``)."""
    # Not at module level: ``Page`` is on every route's import path (``http.dump``), and these
    # exceptions bring botocore's.
    from pynamodb.exceptions import QueryError, ScanError

    result = query(*args, page_size=limit, last_evaluated_key=decode_cursor(cursor), **kwargs)
    try:
        raw = next(result.page_iter)
    except StopIteration:
        return Page([], None)
    except (QueryError, ScanError):  # a tampered cursor that DynamoDB rejects
        if cursor:
            raise BadRequest("cursor is not valid", code="invalid_cursor")
        raise
    items = [model.from_raw_data(item) for item in raw.get("Items", [])]
    return Page(items, encode_cursor(result.page_iter.last_evaluated_key))
