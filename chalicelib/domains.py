"""The list of domains, in one place.

``app.py`` registers ``apis()``. ``load_all()`` imports every domain's models and service (so
every table is known and every outbox consumer registered); the dispatcher and the table
tooling call it, while the HTTP cold start imports only the routes.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from chalicelib.core.lazy import load

DOMAINS: tuple[str, ...] = ("accounts", "doctors", "bindings", "payments", "messaging", "booking", "followup")
SHARED = ("outbox", "timers", "audit", "ratelimit", "idempotency")


def apis() -> list:
    from chalicelib.core.openapi import api as system_api

    return [system_api] + [importlib.import_module(f"chalicelib.{d}.routes").api for d in DOMAINS]


@lru_cache(maxsize=1)
def load_all() -> None:
    for name in SHARED:
        load(f"chalicelib.core.{name}")
    for d in DOMAINS:
        load(f"chalicelib.{d}.models")
        load(f"chalicelib.{d}.service")
