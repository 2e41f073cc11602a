"""Notifications rules facing the API: the inbox, devices, preferences, WeChat grants and the
operators' view. Event handling and sending live in ``delivery`` (imported here so its
consumers register when the domain loads)."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from pynamodb.exceptions import TransactWriteError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.core import clock, timers
from chalicelib.core.errors import Conflict, NotFound, TooManyRequests, Unavailable, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.lazy import lazy_module
from chalicelib.core.observability import logger
from chalicelib.core.outbox import transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from . import delivery, providers, receipts, rules
from .models import Delivery, Device, InboxItem, NotifyAccount, SubscribeGrant

if TYPE_CHECKING:
    from .schemas import (
        AliyunReceiptAck,
        DeliveryOut,
        DeviceOut,
        GrantsOut,
        NotificationOut,
        Ok,
        PreferencesOut,
        TencentReceiptAck,
        UnreadOut,
    )

# The consumer function loads this module for its consumers but needs no API schema: pydantic
# models are built on first use by a route (a third of the notification function's cold import).
schemas = lazy_module("chalicelib.notifications.schemas")

# --- inbox -----------------------------------------------------------------------------------

def _is_read(item: InboxItem, state: NotifyAccount) -> bool:
    return bool(item.read) or bool(state.read_upto and item.item_id <= state.read_upto)


def item_out(item: InboxItem, state: NotifyAccount) -> NotificationOut:
    return schemas.NotificationOut(notification_id=item.item_id, event_type=item.event_type, category=item.category,
                           title=item.title, body=item.body, link=item.link, read=_is_read(item, state),
                           created_at=clock.iso(item.created_at))


def list_items(caller, limit, cursor) -> Page:
    """One GetItem (the read-all watermark) and one Query per page."""
    state = delivery.state_of(caller.account_id)
    page = query_page(InboxItem, InboxItem.query, caller.account_id, scan_index_forward=False,
                      limit=parse_limit(limit), cursor=cursor)
    page.items = [item_out(i, state) for i in page.items]
    return page


def unread(caller) -> UnreadOut:
    return schemas.UnreadOut(unread=max(0, int(delivery.state_of(caller.account_id).unread or 0)))


def mark_read(caller, item_id: str) -> UnreadOut:
    """Marks one item read and lowers the counter once, in one transaction; the counter moves
    only for an item that is unread and newer than the read-all watermark."""
    acct = caller.account_id
    try:
        with transaction() as tx:
            tx.update(InboxItem(acct, item_id), actions=[InboxItem.read.set(True)],
                      condition=InboxItem.item_id.exists() & (InboxItem.read == False))  # noqa: E712
            tx.update(NotifyAccount(acct), actions=[NotifyAccount.unread.add(-1)],
                      condition=NotifyAccount.read_upto.does_not_exist() | (NotifyAccount.read_upto < item_id))
    except TransactWriteError:
        try:
            InboxItem.get(acct, item_id)
        except InboxItem.DoesNotExist:
            raise NotFound("notification not found") from None
    return unread(caller)


def mark_all_read(caller) -> UnreadOut:
    acct = caller.account_id
    for _ in range(5):
        state = delivery.state_of(acct)
        if not state.last_item:
            return schemas.UnreadOut(unread=0)
        try:
            NotifyAccount(acct).update(
                actions=[NotifyAccount.unread.set(0), NotifyAccount.read_upto.set(state.last_item)],
                condition=NotifyAccount.last_item == state.last_item)  # a new item meanwhile: read again
            return schemas.UnreadOut(unread=0)
        except UpdateError:
            continue
    raise Conflict("notifications keep arriving; try again", code="busy")


# --- devices ---------------------------------------------------------------------------------

def device_id_for(provider: str, token: str) -> str:
    return hashlib.sha256(f"{provider}:{token}".encode()).hexdigest()[:32]


def device_out(d: Device) -> DeviceOut:
    return schemas.DeviceOut(device_id=d.device_id, platform=d.platform, provider=d.provider, app_version=d.app_version,
                     locale=d.locale, enabled=bool(d.enabled))


def register_device(caller, body) -> DeviceOut:
    """One PutItem: the token's item now belongs to the caller (and to nobody else)."""
    d = Device(device_id_for(body.provider, body.token), account_id=caller.account_id, platform=body.platform,
               provider=body.provider, token=body.token, app_version=body.app_version, locale=body.locale,
               enabled=True, updated_at=clock.now())
    d.save()
    logger.info("device registered", extra={"device_id": d.device_id, "provider": d.provider})
    return device_out(d)


def delete_device(caller, device_id: str) -> Ok:
    from pynamodb.exceptions import DeleteError

    try:
        Device(device_id).delete(condition=Device.account_id == caller.account_id)
    except DeleteError:
        raise NotFound("device not found") from None
    return schemas.Ok()


# --- preferences -----------------------------------------------------------------------------

def _categories() -> dict[str, tuple[str, ...]]:
    """Each category with the optional channels some rule of it uses."""
    out: dict[str, set[str]] = {c: set() for c in rules.CATEGORIES}
    for r in rules.RULES.values():
        out[r.category].update(c for c in r.channels if c in rules.OPTIONAL_CHANNELS)
    return {c: tuple(ch for ch in rules.OPTIONAL_CHANNELS if ch in chans or not chans) for c, chans in out.items()}


def preferences_out(state: NotifyAccount) -> PreferencesOut:
    window = delivery.quiet_window(state)
    from chalicelib.core.config import get_settings

    s = get_settings()
    quiet = {"enabled": window is not None, "start": state.quiet_start or s.notify_quiet_start,
             "end": state.quiet_end or s.notify_quiet_end}
    cats = {c: {ch: delivery.allows(state, c, ch) for ch in chans} for c, chans in _categories().items()}
    critical = sorted({k.split("#")[0] for k, r in rules.RULES.items() if r.critical})
    return schemas.PreferencesOut(categories=cats, quiet_hours=quiet, previews=bool(state.previews), critical=critical)


def preferences(caller) -> PreferencesOut:
    return preferences_out(delivery.state_of(caller.account_id))


def set_preferences(caller, body) -> PreferencesOut:
    state = delivery.state_of(caller.account_id)
    prefs = dict(state.prefs or {})
    for cat, switches in body.categories:
        if switches is None:
            continue
        merged = dict(prefs.get(cat) or {})
        merged.update({k: v for k, v in switches.model_dump().items() if v is not None})
        prefs[cat] = merged
    actions: list[Action] = [NotifyAccount.prefs.set(prefs)]
    if body.quiet_hours is not None:
        q = body.quiet_hours
        actions += [NotifyAccount.quiet_enabled.set(q.enabled), NotifyAccount.quiet_start.set(q.start),
                    NotifyAccount.quiet_end.set(q.end)]
    if body.previews is not None:
        actions.append(NotifyAccount.previews.set(body.previews))
    NotifyAccount(caller.account_id).update(actions=actions)
    return preferences(caller)


# --- WeChat subscribe grants -----------------------------------------------------------------

def openid_for(code: str) -> str:
    """The caller's openid, from WeChat itself (``jscode2session``), never from the client."""
    try:
        return providers.wechat_session(code)
    except providers.Quota:
        raise TooManyRequests("too many WeChat logins this minute; try again shortly", code="wechat_rate_limited",
                              headers={"Retry-After": "60"}) from None
    except providers.Transient:
        raise Unavailable("WeChat did not answer; try again", code="wechat_unavailable") from None
    except providers.Rejected as exc:
        if exc.code == "unconfigured":
            raise Unavailable("WeChat is not configured on this stage", code="wechat_unconfigured") from None
        # WeChat's errcode goes to the log, not the answer: an error's ``details`` are validation
        # issues only (the OpenAPI ``ErrorDetail``), and clients act on our code alone
        logger.info("wechat code refused", extra={"wechat_errcode": exc.code})
        raise Unprocessable("the WeChat login code is invalid, used or expired; call wx.login() again",
                            code="wechat_code_invalid") from None


def add_grants(caller, body) -> GrantsOut:
    """The openid comes from exchanging the caller's ``wx.login()`` code with WeChat; then one
    TransactWriteItems: each accepted template adds one message to that user's count."""
    openid = openid_for(body.code)
    now = clock.now()
    ids = list(dict.fromkeys(body.template_ids))
    with transaction() as tx:
        for t in ids:
            tx.update(SubscribeGrant(caller.account_id, t), actions=[
                SubscribeGrant.remaining.add(1), SubscribeGrant.openid.set(openid),
                SubscribeGrant.updated_at.set(now)])
    items = [schemas.GrantOut(template_id=g.template_id, remaining=int(g.remaining))
             for g in SubscribeGrant.query(caller.account_id, consistent_read=True)]
    return schemas.GrantsOut(items=items)


# --- provider receipts -------------------------------------------------------------------------

def provider_receipts(provider: str, token: str, raw: bytes) -> AliyunReceiptAck | TencentReceiptAck:
    """An SMS provider's status-report push: each report moves its delivery from ``sent`` to
    ``delivered`` (or ``failed``). The URL's token is the provider's secret (the reports are not
    signed); a wrong one is 404. Answers as the provider expects. Nothing here logs a phone."""
    import hmac

    expected = providers.receipt_token(provider) if provider in providers.RECEIPT_PROVIDERS else None
    if not expected or not hmac.compare_digest(expected.encode(), token.encode()):
        raise NotFound("not found")
    try:
        reports = providers.parse_receipts(provider, raw)
    except ValueError as exc:
        from chalicelib.core.errors import BadRequest

        raise BadRequest(str(exc), code="validation_error") from None
    for rid, ok, code in reports:
        receipts.receipt(rid, ok, code)
    if provider == "aliyun":
        return schemas.AliyunReceiptAck(code=0, msg="成功")
    return schemas.TencentReceiptAck(result=0, errmsg="OK")


# --- operators -------------------------------------------------------------------------------

def delivery_out(d: Delivery) -> DeliveryOut:
    return schemas.DeliveryOut(key=d.key, account_id=d.account_id, channel=d.channel, event_type=d.event_type,
                       status=d.status, reason=d.reason, attempts=int(d.attempts), provider=d.provider,
                       created_at=clock.iso(d.created_at), updated_at=clock.iso(d.updated_at))


def admin_deliveries(account_id: str, limit, cursor) -> Page:
    page = query_page(Delivery, Delivery.by_account.query, account_id, scan_index_forward=False,
                      limit=parse_limit(limit), cursor=cursor)
    page.items = [delivery_out(d) for d in page.items]
    return page


def admin_retry(caller, key: str) -> DeliveryOut:
    """A failed delivery starts over (a fresh round of tries, the first one now)."""
    try:
        d = Delivery.get(key, consistent_read=True)
    except Delivery.DoesNotExist:
        raise NotFound("delivery not found") from None
    if d.status != "failed" or d.channel == "inbox":
        raise Conflict(f"only a failed delivery can be retried (this one is {d.status})", code="invalid_state")
    now = clock.now()
    tkey = f"{key}#1#{new_id()}"
    try:
        with transaction() as tx:
            tx.update(d, actions=[Delivery.status.set("queued"), Delivery.attempts.set(0),
                                  Delivery.reason.set(f"retry by {caller.account_id}"), Delivery.updated_at.set(now)],
                      condition=Delivery.status == "failed")
            timers.schedule(delivery.SEND_TIMER, now, {"key": key, "attempt": 1}, key=tkey, tx=tx)
    except TransactWriteError:
        raise Conflict("the delivery changed meanwhile", code="invalid_state") from None
    logger.info("delivery retried by operator", extra={"delivery": key})
    return delivery_out(Delivery.get(key, consistent_read=True))
