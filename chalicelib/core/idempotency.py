"""``Idempotency-Key`` for creating POSTs, configured in this one place (Powertools).

The key is scoped to the caller and the route, the request body is validated against the first
use (a different body with the same key is 422), and records live ≥26 h, longer than any
client or provider retry window. A retry returns the first response, status included.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from pynamodb.attributes import TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from . import clock
from .config import get_settings
from .db import meta, register
from .errors import BadRequest, Conflict, Unprocessable


@register
class IdempotencyRecord(Model):
    """Declares the table Powertools writes (its own attribute names). ``expiration`` (epoch
    seconds) is the table's TTL, so DynamoDB deletes records that have expired."""

    Meta = meta("idempotency")
    id = UnicodeAttribute(hash_key=True)
    expiration = TTLAttribute(null=True)


_producer: ContextVar[Callable[[], tuple[int, Any]]] = ContextVar("idempotent_producer")


@lru_cache(maxsize=1)
def _handler():
    # Imported here: Powertools idempotency is only needed by requests that carry a key.
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    class Persistence(DynamoDBPersistenceLayer):
        def _get_expiry_timestamp(self) -> int:
            # Powertools' hook for a record's expiry reads datetime.now(). The local stack's test
            # clock runs ahead of it, and its TTL sweep deletes expired records on that clock; a
            # clock behind real time (a test's frozen clock) must not make a record born expired
            # for Powertools' own real-time check. On AWS both clocks are the same.
            now = max(clock.now(), datetime.now(UTC))
            return int((now + timedelta(seconds=self.expires_after_seconds)).timestamp())

    persistence = Persistence(table_name=IdempotencyRecord.Meta.table_name)
    config = IdempotencyConfig(
        event_key_jmespath="[caller, key, route]",
        payload_validation_jmespath="body",
        expires_after_seconds=get_settings().idempotency_ttl_s,
        raise_on_no_idempotency_key=True,
    )

    @idempotent_function(data_keyword_argument="data", persistence_store=persistence, config=config)
    def handle(data: dict) -> dict:
        status, body = _producer.get()()
        return {"status": status, "body": body}

    return handle, config


def reset() -> None:
    _handler.cache_clear()


def run_idempotent(ctx, key: str, produce: Callable[[], tuple[int, Any]], lambda_context: Any = None) -> tuple[int, Any]:
    if not 1 <= len(key) <= 128 or not key.isprintable():
        raise BadRequest("Idempotency-Key must be 1-128 printable characters", code="invalid_idempotency_key")
    req = ctx.request
    data = {
        "caller": ctx.caller.account_id if ctx.caller else (ctx.source_ip or "anonymous"),
        "key": key,
        "route": f"{req.method} {req.path} {json.dumps(req.uri_params or {}, sort_keys=True)}",
        "body": (req.raw_body or b"").decode("utf-8", "replace"),
    }
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    handle, config = _handler()
    if lambda_context is not None:
        # an in-progress record of a function that timed out expires with it, so a retry can run
        config.register_lambda_context(lambda_context)
    token = _producer.set(produce)
    try:
        result = handle(data=data)
    except IdempotencyValidationError:
        raise Unprocessable("Idempotency-Key was already used with a different request", code="idempotency_key_reused")
    except IdempotencyAlreadyInProgressError:
        raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_in_progress")
    finally:
        _producer.reset(token)
    return result["status"], result["body"]
