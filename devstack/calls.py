"""DynamoDB calls counted by the part of the local stack that made them, so that a budget
("≤ 2 DynamoDB calls per recipient") can be checked through the real stack, not only in-process;
and each unit's consumer invocations (how many, the longest), to see none comes near its timeout.

Each process of the stack counts its own calls: the API process (``chalice local``) under
``api``; the devstack process under the part running on the thread — a unit's name while its
poller runs that unit's consumers (:func:`part`), else the thread's name (``outbox-relay``,
``scheduler-tick``). ``GET /dev/calls`` returns both processes' counts and the invocations. Counting is one dict
update per call under a lock; it is installed only by the local stack.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_counts: dict[str, Counter] = {}
_local = threading.local()
_installed: list[str] = []
_invocations: dict[str, dict] = {}


def install(default_part: str | None = None) -> None:
    """Count every DynamoDB call this process makes from now on (idempotent). ``default_part``
    names calls made outside :func:`part` (else the thread's name)."""
    if _installed:
        return
    import botocore.client

    real = botocore.client.BaseClient._make_api_call

    def counting(self, operation_name, api_params):
        if self.meta.service_model.service_name == "dynamodb":
            name = getattr(_local, "part", None) or default_part or threading.current_thread().name
            with _lock:
                _counts.setdefault(name, Counter())[operation_name] += 1
        return real(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = counting
    _installed.append(default_part or "")


@contextmanager
def part(name: str) -> Iterator[None]:
    """Calls made on this thread inside the block count under ``name``."""
    before = getattr(_local, "part", None)
    _local.part = name
    try:
        yield
    finally:
        _local.part = before


def invoked(unit: str, seconds: float, records: int) -> None:
    """One consumer invocation of ``unit`` (a poller's receive → consume round)."""
    with _lock:
        inv = _invocations.setdefault(unit, {"count": 0, "max_s": 0.0, "max_records": 0})
        inv["count"] += 1
        inv["max_s"] = max(inv["max_s"], round(seconds, 3))
        inv["max_records"] = max(inv["max_records"], records)


def snapshot() -> dict[str, dict]:
    """``{"dynamodb": {part: {operation: calls}}, "invocations": {unit: {count, max_s,
    max_records}}}`` since the process started counting."""
    with _lock:
        return {"dynamodb": {p: dict(c) for p, c in _counts.items()},
                "invocations": {u: dict(i) for u, i in _invocations.items()}}
