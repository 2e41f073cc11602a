"""Providers' delivery reports (Aliyun's SmsReport, Tencent's callback): a ``sent`` delivery
becomes ``delivered``, or ``failed`` when the handset never got it."""

from __future__ import annotations

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.update import Action

from chalicelib.core import clock
from chalicelib.core.observability import logger

from .models import Delivery, NotifyCounter


def receipt(receipt_id: str, delivered: bool, code: str) -> bool:
    """A provider's report on a sent delivery: ``sent`` becomes ``delivered``, or ``failed`` with
    the provider's code (the handset never got it). One GetItem (the lookup) and one
    conditional UpdateItem; an unknown id, or a delivery already settled, changes nothing."""
    try:
        key = (NotifyCounter.get(f"receipt#{receipt_id}").data or {}).get("key")
    except NotifyCounter.DoesNotExist:
        return False
    if not key:
        return False
    status, reason = ("delivered", None) if delivered else ("failed", f"undelivered: {code}"[:120])
    actions: list[Action] = [Delivery.status.set(status), Delivery.updated_at.set(clock.now())]
    actions.append(Delivery.reason.set(reason) if reason else Delivery.reason.remove())
    try:
        Delivery(key).update(actions=actions, condition=(Delivery.status == "sent") & (Delivery.receipt_id == receipt_id))
    except UpdateError:
        return False
    logger.info("notification receipt", extra={"delivery": key, "status": status})
    return True
