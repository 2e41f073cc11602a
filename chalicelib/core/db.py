"""PynamoDB conventions shared by every domain.

Every model subclasses :class:`BaseModel` and names its table with ``Meta = meta("short")``.
The models are the single source of truth for tables: the dev stack and the tests create them
with ``chalicelib.domains.create_tables`` (core does not know the list of domains, so the function
that imports them all lives there), and a test checks that ``infra/`` declares the same keys and
indexes.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar, cast

from pynamodb.attributes import ListAttribute, UnicodeAttribute
from pynamodb.models import Model

from .config import table_name

_MODELS: list[type[Model]] = []
M = TypeVar("M", bound=type[Model])


def meta(short: str, **extra):
    attrs = {
        "table_name": table_name(short),
        "region": os.environ.get("AWS_DEFAULT_REGION", "cn-north-1"),
        "billing_mode": "PAY_PER_REQUEST",
        "max_retry_attempts": 2,
        **extra,
    }
    return type("Meta", (), attrs)


def register(model: M) -> M:
    """Class decorator: the model owns a table that the stack must create."""
    _MODELS.append(model)
    return model


def registered_models() -> list[type[Model]]:
    """The models registered so far (those whose modules have been imported)."""
    return list(_MODELS)


def string_list(**kwargs: Any) -> ListAttribute[str]:
    """A list of strings. PynamoDB types ``ListAttribute(of=UnicodeAttribute)`` as a list of
    attribute objects; what it reads and writes is a list of ``str``, and so it is typed here."""
    return cast(ListAttribute[str], ListAttribute(of=UnicodeAttribute, **kwargs))
