"""Entry points of the deployed functions, all built by one ``create_app(domains)``.

``app.py`` is ``create_app(DOMAINS)``: what ``chalice local`` and the tests serve, and what
``chalice package`` reads. Deployed, each unit (``chalicelib/topology.py``) has its own API
function whose handler is ``chalicelib.entry.api_handler``: the same Chalice app built from
only that unit's routes (``SUIZHEN_UNIT``), so it imports its own domains and the shared core,
nothing else. ``chalicelib.entry.consume`` is the unit's queue consumer, and
``chalicelib.entry.answer`` its call function's handler (``chalicelib/calls.py``), for a unit
that others call synchronously.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from chalice import Chalice

from chalicelib.core.config import get_settings
from chalicelib.core.http import authorizer_bp, error_middleware
from chalicelib.core.observability import logging_middleware, metrics_middleware, tracing_middleware
from chalicelib.domains import DOMAINS, apis


def create_app(domains: Iterable[str] = DOMAINS) -> Chalice:
    # Powertools' logger (made on first use) owns the "suizhen" log; Chalice adding its own handler
    # first would print every line twice, the second copy unscrubbed.
    app = Chalice(app_name="suizhen", configure_logs=False)
    # Only PNG is binary: API Gateway then needs the client's Accept: image/png. SVG and .ics are
    # text, served without any Accept header (a calendar app or a browser sends none that would match).
    app.api.binary_types.append("image/png")
    app.register_blueprint(authorizer_bp)
    for api in apis(domains):
        app.register_blueprint(api.bp)
    app.register_middleware(logging_middleware)
    app.register_middleware(metrics_middleware)
    app.register_middleware(tracing_middleware)
    app.register_middleware(error_middleware, "http")
    return app


def unit_domains(unit: str) -> tuple[str, ...]:
    from chalicelib import topology

    if unit == topology.SYSTEM:
        return DOMAINS  # the OpenAPI document lists every route
    units = topology.units()
    if unit not in units:
        raise RuntimeError(f"SUIZHEN_UNIT={unit!r} is not a unit of chalicelib/topology.py")
    return units[unit]


def __getattr__(name: str) -> Any:
    # Built on first access (the Lambda runtime's own lookup of the handler), from SUIZHEN_UNIT.
    if name == "api_handler":
        # Read directly, not through get_settings(): validating settings imports pydantic, which
        # the unit's routes do not need at import (SUIZHEN_UNIT is also a Settings field).
        app = create_app(unit_domains(os.environ.get("SUIZHEN_UNIT", "")))
        globals()["api_handler"] = app
        return app
    raise AttributeError(name)


def consume(event: dict, context: Any) -> dict:
    """A unit's SQS consumer (partial batch failures; ``FunctionResponseTypes`` in the template)."""
    from chalicelib import events

    return events.consume(get_settings().unit, event, context)


def answer(event: dict, context: Any) -> dict:
    """A synchronous call from another unit (``chalicelib/calls.py``)."""
    from chalicelib import calls

    return calls.answer(event, context)
