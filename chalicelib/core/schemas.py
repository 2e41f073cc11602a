"""Base classes for request/response schemas and the shared error/list shapes."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class Request(BaseModel):
    """Request bodies and query strings: unknown fields are an error, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Response(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ListOf(Response, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class ListQuery(Request):
    limit: int | None = None
    cursor: str | None = None


class ErrorDetail(Response):
    code: str
    message: str
    request_id: str
    details: Any = None


class ErrorBody(Response):
    error: ErrorDetail
