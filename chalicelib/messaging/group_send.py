"""Group send (群发): one message from a doctor to every patient of a group."""

from __future__ import annotations

from chalicelib.bindings import service as bindings
from chalicelib.core.errors import NotFound, Unprocessable

from .sending import send

GROUP_MAX = 200


def group_send(caller, group: str, text: str) -> int:
    members = bindings.group_members(caller.account_id, group)
    if len(members) > GROUP_MAX:
        raise Unprocessable(f"a group message reaches at most {GROUP_MAX} patients", code="group_too_large")
    sent = 0
    for b in members:
        try:
            send(caller, b.binding_id, "text", text, [])
            sent += 1
        except (NotFound, Unprocessable):
            continue  # no conversation yet, or inactive
    return sent
