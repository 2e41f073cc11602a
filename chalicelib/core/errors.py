"""API errors. Each maps to one HTTP status and the JSON error body of DESIGN.md.

They subclass ``ChaliceUnhandledError`` so Chalice lets them reach our middleware, which
renders ``{"error": {"code", "message", "request_id"}}``.
"""

from __future__ import annotations

from typing import Any

from chalice import ChaliceUnhandledError


class ApiError(ChaliceUnhandledError):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, code: str | None = None, details: Any = None, headers: dict | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details
        self.headers = headers or {}


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class Unprocessable(ApiError):
    status, code = 422, "unprocessable"


class TooManyRequests(ApiError):
    status, code = 429, "too_many_requests"


class Unavailable(ApiError):
    """A provider the request depends on did not answer; the same request may succeed later."""

    status, code = 503, "unavailable"
