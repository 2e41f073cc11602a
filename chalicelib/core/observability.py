"""Powertools Logger, Metrics and Tracer, each configured once, on first use.

The logger's formatter scrubs mainland phone numbers and resident ID numbers from every line,
whatever a caller passed in, as a last line of defence: code logs ids, never personal data.

Powertools costs ~40 ms to import (and the X-Ray SDK ~100 ms more), and building the routes needs
none of it, so nothing is imported until a request or a log line needs it: ``logger`` and
``metrics`` are made on first access (``observability.logger``; a module that does
``from … import logger`` makes it then), and the middlewares build their Powertools decorator on
the first request. Modules on the routes' import path (``http``, ``aws``, ``routes``) therefore
write ``observability.logger``.
"""

from __future__ import annotations

import os
import re
import warnings
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics

    logger: Logger
    metrics: Metrics

_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_PHONE = re.compile(r"(?<!\d)(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)")


def scrub(text: str) -> str:
    return _PHONE.sub("[phone]", _ID_NUMBER.sub("[id-number]", text))


# Powertools warns on every request that records no metric; that is normal here.
warnings.filterwarnings("ignore", "No application metrics to publish")


@lru_cache(maxsize=1)
def get_logger() -> Logger:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class RedactingFormatter(LambdaPowertoolsFormatter):
        def serialize(self, log: Any) -> str:
            return scrub(super().serialize(log))

    return Logger(service="suizhen", logger_formatter=RedactingFormatter())


@lru_cache(maxsize=1)
def get_metrics() -> Metrics:
    from aws_lambda_powertools import Metrics

    return Metrics(namespace="Suizhen", service="suizhen")


def __getattr__(name: str) -> Any:
    if name == "logger":
        return get_logger()
    if name == "metrics":
        return get_metrics()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@lru_cache(maxsize=1)
def _logging_middleware():
    from chalice import ConvertToMiddleware

    return ConvertToMiddleware(get_logger().inject_lambda_context(clear_state=True))


@lru_cache(maxsize=1)
def _metrics_middleware():
    from chalice import ConvertToMiddleware

    return ConvertToMiddleware(get_metrics().log_metrics)


@lru_cache(maxsize=1)
def _tracing_middleware():
    # The X-Ray SDK costs ~100 ms to import on top of Powertools.
    from aws_lambda_powertools import Tracer
    from chalice import ConvertToMiddleware

    return ConvertToMiddleware(Tracer(service="suizhen").capture_lambda_handler)


def logging_middleware(event, get_response):
    """Powertools' Lambda context and request fields on every log line of the request."""
    return _logging_middleware()(event, get_response)


def metrics_middleware(event, get_response):
    """Flushes the request's metrics (EMF) when it ends."""
    return _metrics_middleware()(event, get_response)


def tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() not in ("1", "true", "yes", "on")


def tracing_middleware(event, get_response):
    """Powertools Tracer around every handler. With tracing off (POWERTOOLS_TRACE_DISABLED) the
    X-Ray SDK is never imported: the request goes straight through."""
    if not tracing_enabled():
        return get_response(event)
    return _tracing_middleware()(event, get_response)
