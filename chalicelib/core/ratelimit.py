"""Fixed-window rate limits kept in DynamoDB (one conditional UpdateItem per check)."""

from __future__ import annotations

from datetime import timedelta

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import UpdateError
from pynamodb.models import Model

from . import clock
from .db import meta, register
from .errors import TooManyRequests
from .observability import logger


@register
class RateCounter(Model):
    Meta = meta("rate_limits")
    key = UnicodeAttribute(hash_key=True)  # "<bucket>#<subject>#<window>"
    hits = NumberAttribute(attr_name="count", default=0)  # Model.count is a classmethod
    expires_at = TTLAttribute()


def hit(bucket: str, subject: str, *, limit: int, window_s: int, message: str | None = None) -> None:
    """Count one event for ``subject``; raise 429 when the window already holds ``limit``."""
    now = clock.epoch()
    window = now // window_s
    counter = RateCounter(f"{bucket}#{subject}#{window}")
    try:
        counter.update(
            actions=[RateCounter.hits.add(1),
                     RateCounter.expires_at.set(clock.now() + timedelta(seconds=2 * window_s))],
            condition=RateCounter.hits.does_not_exist() | (RateCounter.hits < limit),
        )
    except UpdateError as exc:
        if exc.cause_response_code != "ConditionalCheckFailedException":
            raise
        retry_after = (window + 1) * window_s - now
        logger.warning("rate limited", extra={"bucket": bucket})
        raise TooManyRequests(message or "too many requests, try again later", code="rate_limited",
                              headers={"Retry-After": str(max(retry_after, 1))})
