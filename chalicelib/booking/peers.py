"""The other domains booking calls, each behind one function so tests can substitute it
(``monkeypatch.setattr(peers, "payments", ...)``), and the settings booking reads."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.core.config import get_settings


def payments():
    """The payments domain's service (contract in the module docstring of that domain)."""
    from chalicelib.payments import service

    return service


def bindings():
    from chalicelib.bindings import service

    return service


def cancel_cutoff() -> timedelta:
    return timedelta(hours=get_settings().booking_cancel_cutoff_h)


def max_unpaid_holds() -> int:
    return get_settings().booking_max_unpaid_holds
