"""The deployed shape, in one place: which functions exist, what each one serves, its settings,
and the names of the events topic and the per-unit queues.

A *unit* is what gets one API function, one consumer function, one queue (with a DLQ) and one
IAM role: a domain on its own, or a few small domains grouped (``GROUPS``). A domain added to
``DOMAINS`` becomes a unit of its own with the default settings; nothing here needs editing.
"""

from __future__ import annotations

from typing import NamedTuple

from chalicelib.domains import DOMAINS

# Small domains that share a function (their cold start together is still small).
GROUPS: dict[str, tuple[str, ...]] = {"identity": ("accounts", "doctors")}
# The OpenAPI document and the health check: served by a function that knows every route.
SYSTEM = "system"


# NamedTuples rather than dataclasses: every unit's function imports this module at cold start
# (``entry.unit_domains``), and ``dataclasses`` would cost it ~10 ms the whole app does not pay.
class FunctionSettings(NamedTuple):
    memory_mb: int = 512
    timeout_s: int = 15
    reserved_concurrency: int | None = None


class QueueSettings(NamedTuple):
    batch_size: int = 10
    batching_window_s: int = 1
    max_receive_count: int = 5
    consumer: FunctionSettings = FunctionSettings(memory_mb=512, timeout_s=60)

    @property
    def visibility_timeout_s(self) -> int:
        """AWS's advice: six times the consumer's timeout, so a retried batch is not seen twice."""
        return 6 * self.consumer.timeout_s


API_DEFAULT = FunctionSettings()
QUEUE_DEFAULT = QueueSettings()
# Per-unit overrides; anything not named takes the defaults above.
API: dict[str, FunctionSettings] = {
    "payments": FunctionSettings(memory_mb=1024, timeout_s=30),
    "booking": FunctionSettings(memory_mb=1024, timeout_s=20),
    SYSTEM: FunctionSettings(memory_mb=512, timeout_s=10, reserved_concurrency=5),
}
QUEUES: dict[str, QueueSettings] = {
    "payments": QUEUE_DEFAULT._replace(consumer=FunctionSettings(memory_mb=1024, timeout_s=60)),
    # A group send's delivery event carries 100 recipients (one transaction each): ten of them in
    # one invocation took 44 s of the 60 s timeout on the local stack (bench/group_send_stack.py);
    # two keep an invocation to ~200 recipients, far from it.
    "messaging": QUEUE_DEFAULT._replace(batch_size=2),
}
RELAY = FunctionSettings(memory_mb=512, timeout_s=60)
RELAY_BATCH_SIZE = 100
RELAY_BATCHING_WINDOW_S = 1
# A unit's call function (chalicelib/calls.py): well inside its callers' own timeouts.
CALLS = FunctionSettings(memory_mb=1024, timeout_s=10)
SWEEP = FunctionSettings(memory_mb=1024, timeout_s=60, reserved_concurrency=1)
AUTHORIZER = FunctionSettings(memory_mb=256, timeout_s=5)


def units() -> dict[str, tuple[str, ...]]:
    """unit → its domains, in DOMAINS order; every domain belongs to exactly one unit."""
    grouped = {d for ds in GROUPS.values() for d in ds}
    out: dict[str, tuple[str, ...]] = {}
    for d in DOMAINS:
        if d in grouped:
            unit = next(u for u, ds in GROUPS.items() if d in ds)
            out.setdefault(unit, tuple(x for x in DOMAINS if x in GROUPS[unit]))
        else:
            out[d] = (d,)
    return out


def unit_of(domain: str) -> str:
    for unit, ds in units().items():
        if domain in ds:
            return unit
    return domain  # not a deployed domain (e.g. a test module): its own unit, locally only


def api_settings(unit: str) -> FunctionSettings:
    return API.get(unit, API_DEFAULT)


def queue_settings(unit: str) -> QueueSettings:
    return QUEUES.get(unit, QUEUE_DEFAULT)


def topic_name(stage: str) -> str:
    return f"suizhen-{stage}-events"


def queue_name(stage: str, unit: str) -> str:
    return f"suizhen-{stage}-{unit}-events"


def dlq_name(stage: str, unit: str) -> str:
    return f"suizhen-{stage}-{unit}-events-dlq"
