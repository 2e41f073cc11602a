"""How long the running invocation has left, for work that can leave the rest to a retry.

Lambda ends an invocation at its timeout whatever it is doing, and an SQS consumer that is ended
reports nothing: its whole batch comes back after the visibility timeout, and a message that is
ended five times goes to the DLQ. Work that waits on others (a provider's API, up to
``provider_timeout_s`` a call) therefore asks :func:`has_time` before it starts and, when the
answer is no, leaves the rest to its durable retry. The consumer entry sets the invocation's
context (:func:`invocation`); outside one (tests that call a consumer directly, ``chalice
local``) there is no deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_remaining_ms: ContextVar[Callable[[], int] | None] = ContextVar("remaining_ms", default=None)


@contextmanager
def invocation(context: Any) -> Iterator[None]:
    """Within the block, :func:`time_left_s` reads ``context.get_remaining_time_in_millis``."""
    token = _remaining_ms.set(getattr(context, "get_remaining_time_in_millis", None))
    try:
        yield
    finally:
        _remaining_ms.reset(token)


def time_left_s() -> float:
    """Seconds until the invocation is ended (infinite outside one)."""
    remaining = _remaining_ms.get()
    return float("inf") if remaining is None else remaining() / 1000


def has_time(seconds: float) -> bool:
    return time_left_s() >= seconds
