"""Identifiers: ULIDs everywhere (sortable by creation time).

python-ulid is imported on the first id, not with this module: it reads its own package metadata
at import (``importlib.metadata``, ~50 ms), and every route module reaches this one."""


def new_id() -> str:
    from ulid import ULID

    return str(ULID())
