"""Event delivery, one layer above the shared core: it knows the domains, so it can import the
services whose consumers it delivers to (``chalicelib/core/outbox.py`` only keeps the registry)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from chalicelib.core import outbox
from chalicelib.domains import load_all


def dispatch(records: Iterable[Any]) -> int:
    load_all()  # services register their consumers when imported
    return outbox.dispatch(records)
