"""Powertools Logger, Metrics and Tracer, configured once (the Tracer lazily).

The logger's formatter scrubs mainland phone numbers and resident ID numbers from every line,
whatever a caller passed in, as a last line of defence: code logs ids, never personal data.
"""

from __future__ import annotations

import os
import re
import warnings
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)")


def scrub(text: str) -> str:
    return _PHONE.sub("[phone]", _ID_NUMBER.sub("[id-number]", text))


class RedactingFormatter(LambdaPowertoolsFormatter):
    def serialize(self, log: Any) -> str:
        return scrub(super().serialize(log))


# Powertools warns on every request that records no metric; that is normal here.
warnings.filterwarnings("ignore", "No application metrics to publish")

logger = Logger(service="suizhen", logger_formatter=RedactingFormatter())
metrics = Metrics(namespace="Suizhen", service="suizhen")


@lru_cache(maxsize=1)
def _tracing_middleware():
    # The X-Ray SDK costs ~100 ms to import: load it on the first request, not at import.
    from aws_lambda_powertools import Tracer
    from chalice import ConvertToMiddleware

    return ConvertToMiddleware(Tracer(service="suizhen").capture_lambda_handler)


def tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() not in ("1", "true", "yes", "on")


def tracing_middleware(event, get_response):
    """Powertools Tracer around every handler. With tracing off (POWERTOOLS_TRACE_DISABLED) the
    X-Ray SDK is never imported: the request goes straight through."""
    if not tracing_enabled():
        return get_response(event)
    return _tracing_middleware()(event, get_response)
