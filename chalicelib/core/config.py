"""One pydantic model validates every environment variable the service reads.

Settings are read lazily (``get_settings()``) so tests can set the environment before first use.
Table names are the one exception: PynamoDB models bind them at import time, so
``SUIZHEN_TABLE_PREFIX`` must be set before ``app`` is imported.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .settings import Settings

ENV_PREFIX = "SUIZHEN_"

@lru_cache(maxsize=1)
def get_settings() -> Settings:
    from .settings import Settings

    env = {k[len(ENV_PREFIX):].lower(): v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    return Settings.model_validate(env)


def table_name(short: str) -> str:
    """Full DynamoDB table name for a domain table, bound at import time."""
    return os.environ.get("SUIZHEN_TABLE_PREFIX", "suizhen-dev-") + short
