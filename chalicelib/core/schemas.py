"""Base classes for request/response schemas and the shared error/list shapes.

``defer_build`` postpones building each model's validator to its first use, which keeps the
cold import of the app small (there are many schemas; most requests touch a few).
"""

from typing import Any

from pydantic import BaseModel, ConfigDict


class Request(BaseModel):
    """Request bodies and query strings: unknown fields are an error, strings are trimmed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class Response(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)


class ListQuery(Request):
    limit: int | None = None
    cursor: str | None = None


class Ok(Response):
    ok: bool = True


class ErrorDetail(Response):
    code: str
    message: str
    request_id: str
    details: Any = None


class ErrorBody(Response):
    error: ErrorDetail
