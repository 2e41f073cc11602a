"""A ``TransactWrite`` that can say which of its items made it fail.

DynamoDB answers a cancelled ``TransactWriteItems`` with one reason per item, in the order the
items were sent. PynamoDB sends condition checks first, then deletes, puts and updates, whatever
order the calls were made in; this class records each item's table and hash key in that same
order, so a service can map the reasons to its own guards without reaching into PynamoDB's
private lists (``tests/test_transact.py`` proves the order against real failures).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pynamodb.exceptions import TransactWriteError
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

FAILED_CODES = ("ConditionalCheckFailed", "TransactionConflict")


@cache
def _hash_key_name(cls: type[Model]) -> str:
    return next(name for name, attr in cls.get_attributes().items() if attr.is_hash_key)


class RecordingTransactWrite(TransactWrite):
    """Behaves exactly like ``TransactWrite``; also records (table, hash key) per item."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.recorded: dict[str, list[tuple[str, Any]]] = {"check": [], "delete": [], "put": [], "update": []}

    def condition_check(self, model_cls, hash_key, range_key=None, condition=None):
        super().condition_check(model_cls, hash_key, range_key=range_key, condition=condition)
        self.recorded["check"].append((model_cls.Meta.table_name, hash_key))

    def delete(self, model, condition=None, *, add_version_condition: bool = True) -> None:
        super().delete(model, condition=condition, add_version_condition=add_version_condition)
        self.recorded["delete"].append(_ident(model))

    def save(self, model, condition=None, return_values=None) -> None:
        super().save(model, condition=condition, return_values=return_values)
        self.recorded["put"].append(_ident(model))

    def update(self, model, actions, condition=None, return_values=None, *,
               add_version_condition: bool = True) -> None:
        super().update(model, actions, condition=condition, return_values=return_values,
                       add_version_condition=add_version_condition)
        self.recorded["update"].append(_ident(model))

    def sent_order(self) -> list[tuple[str, Any]]:
        r = self.recorded
        return [*r["check"], *r["delete"], *r["put"], *r["update"]]


def _ident(model: Model) -> tuple[str, Any]:
    cls = type(model)
    return cls.Meta.table_name, getattr(model, _hash_key_name(cls))


def failed_items(tx: TransactWrite | None, exc: TransactWriteError) -> list[tuple[str, Any]]:
    """(table name, hash key) of every item whose condition failed or that conflicted.
    Empty when ``tx`` did not record its items or the failure was not a cancellation."""
    if not isinstance(tx, RecordingTransactWrite):
        return []
    out = []
    for item, reason in zip(tx.sent_order(), exc.cancellation_reasons or [], strict=False):
        if reason is not None and reason.code in FAILED_CODES:
            out.append(item)
    return out
