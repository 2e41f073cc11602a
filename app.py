"""Suizhen (随诊) API: the Chalice app. Thin by design: it wires blueprints, the authorizer,
middleware and event handlers; every rule lives in ``chalicelib/<domain>/service.py``."""

import os

from chalice import Chalice, ConvertToMiddleware, Rate

from chalicelib import events
from chalicelib.core import timers
from chalicelib.core.http import authorizer_bp, error_middleware
from chalicelib.core.observability import logger, metrics, tracing_middleware
from chalicelib.domains import apis

app = Chalice(app_name="suizhen")
# Only PNG is binary: API Gateway then needs the client's Accept: image/png. SVG and .ics are text,
# served without any Accept header (a calendar app or a browser sends none that would match).
app.api.binary_types.append("image/png")
app.register_blueprint(authorizer_bp)
for api in apis():
    app.register_blueprint(api.bp)

app.register_middleware(ConvertToMiddleware(logger.inject_lambda_context(clear_state=True)))
app.register_middleware(ConvertToMiddleware(metrics.log_metrics))
app.register_middleware(tracing_middleware)
app.register_middleware(error_middleware, "http")


@app.schedule(Rate(1, unit=Rate.MINUTES))
def timer_sweep(event):
    """Fire every due durable timer (reminders, deadlines, expiries)."""
    timers.sweep()


# On AWS the infra template points this at the outbox table's stream (see infra/README.md).
@app.on_dynamodb_record(stream_arn=os.environ.get(
    "SUIZHEN_OUTBOX_STREAM_ARN",
    "arn:aws:dynamodb:cn-north-1:000000000000:table/suizhen-dev-outbox/stream/1970-01-01T00:00:00.000"),
    batch_size=25, starting_position="TRIM_HORIZON")
def outbox_dispatch(event):
    """Deliver outbox events to their consumers (idempotent by event id)."""
    events.dispatch(event)
