"""The list of domains, in one place, and everything that needs it.

Shared core (``chalicelib/core``) never imports a domain, so whatever needs the whole list lives
here, one layer above: ``apis()`` for ``app.py``, ``load_all()`` (imports every domain's models
and service, so every table is known and every outbox consumer registered), ``all_models()`` /
``create_tables()`` for the dev stack, the tests and ``infra/``. The HTTP cold start imports only
the routes.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

from chalicelib.core.lazy import load

if TYPE_CHECKING:  # every entry imports this module; PynamoDB (and botocore) only what uses models
    from pynamodb.models import Model

DOMAINS: tuple[str, ...] = ("accounts", "doctors", "bindings", "payments", "messaging", "booking", "opinions",
                            "notifications", "followup", "brand", "referrals")
SHARED = ("outbox", "timers", "audit", "ratelimit", "idempotency")


def apis(domains: Iterable[str] = DOMAINS) -> list:
    from chalicelib.core.system import api as system_api

    return [system_api] + [importlib.import_module(f"chalicelib.{d}.routes").api for d in domains]


def load_shared() -> None:
    for name in SHARED:
        load(f"chalicelib.core.{name}")


def load_domain(domain: str) -> None:
    """One domain's models and service (its consumers register themselves on import)."""
    load(f"chalicelib.{domain}.models")
    load(f"chalicelib.{domain}.service")


@lru_cache(maxsize=1)
def load_all() -> None:
    load_shared()
    for d in DOMAINS:
        load_domain(d)


def all_models() -> list[type[Model]]:
    from chalicelib.core.db import registered_models

    load_all()
    return registered_models()


def create_tables() -> None:
    for model in all_models():
        if not model.exists():
            model.create_table(billing_mode="PAY_PER_REQUEST", wait=True)
