"""Suizhen (随诊) API: the Chalice app. Thin by design: ``create_app`` registers every domain's
blueprint, the authorizer and the middleware; here are the two event handlers. Deployed, each
unit gets its own function from the same code (``chalicelib/entry.py``, ``infra/package.py``);
every rule lives in ``chalicelib/<domain>/service.py``."""

import os

from chalice import Rate

from chalicelib.domains import DOMAINS
from chalicelib.entry import create_app

app = create_app(DOMAINS)


@app.schedule(Rate(1, unit=Rate.MINUTES))
def timer_sweep(event):
    """Hand every due durable timer to its domain's queue, within this invocation's time."""
    from chalicelib.core import timers

    timers.sweep(remaining_ms=event.context.get_remaining_time_in_millis)


# On AWS the infra template points this at the outbox table's stream, INSERTs only (infra/README.md).
@app.on_dynamodb_record(stream_arn=os.environ.get(
    "SUIZHEN_OUTBOX_STREAM_ARN",
    "arn:aws:dynamodb:cn-north-1:000000000000:table/suizhen-dev-outbox/stream/1970-01-01T00:00:00.000"),
    batch_size=100, starting_position="TRIM_HORIZON")
def outbox_relay(event):
    """Forward new outbox events to the queues of the units that consume them."""
    from chalicelib import events

    return events.relay(event.to_dict()["Records"])
