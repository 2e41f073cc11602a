"""The other domains booking calls, each behind one function so tests can substitute it
(``monkeypatch.setattr(peers, "payments", ...)``), and the settings booking reads."""

from __future__ import annotations

from datetime import timedelta

from chalicelib.core.config import get_settings


def payments():
    """Payments, called synchronously through its function (``chalicelib/calls.py``; what it
    answers: ``chalicelib/payments/calls.py``)."""
    from chalicelib import calls

    return calls.client("payments")


def bindings():
    from chalicelib.bindings import service

    return service


def cancel_cutoff() -> timedelta:
    return timedelta(hours=get_settings().booking_cancel_cutoff_h)


def max_unpaid_holds() -> int:
    return get_settings().booking_max_unpaid_holds
