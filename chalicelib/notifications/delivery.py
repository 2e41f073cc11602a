"""From an event to deliveries: the consumer, channel routing, sending, retries and digests.

One event does bounded work: the rules name at most a couple of recipients, so a group send of
1,000 messages is 1,000 ``message.created`` events, each its own small consumer run.

Per recipient and channel a :class:`Delivery` keyed ``{event_id}:{recipient}:{channel}`` is
written with ``attribute_not_exists``: a redelivered event finds it and sends nothing twice.
A send is claimed in the same transaction that schedules its next try on the durable timers
(``notify-send``; tries 2–5 come 1, 2, 5 and 10 min after the one before: 5 tries within
~18 min), so a function that dies
mid-send is retried by the timer, and a success cancels the pending try. Held (quiet hours)
deliveries wait on the same timer. Just before every push/SMS/WeChat send the rule's stale
check runs (a reminder for a booking cancelled meanwhile becomes ``not_sent: stale``).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib.core import clock, deadline, timers
from chalicelib.core.config import get_settings
from chalicelib.core.ids import new_id
from chalicelib.core.observability import logger
from chalicelib.core.outbox import consumer, transaction

from . import providers, rules, stale
from .models import Delivery, Device, InboxItem, NotifyAccount, NotifyCounter, SubscribeGrant

BACKOFF = (timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=5), timedelta(minutes=10),
           timedelta(minutes=15))
DIGEST_WINDOW = timedelta(minutes=10)
DAILY_DIGEST_AT = time(20, 0)  # Asia/Shanghai, before the default quiet hours
KEEP = timedelta(days=180)
SEND_TIMER = "notify-send"
DIGEST_TIMER = "notify-digest"
DAILY_TIMER = "notify-daily"


# --- account state ---------------------------------------------------------------------------

def state_of(account_id: str) -> NotifyAccount:
    try:
        return NotifyAccount.get(account_id)
    except NotifyAccount.DoesNotExist:
        return NotifyAccount(account_id, unread=0)


def allows(state: NotifyAccount, category: str, channel: str) -> bool:
    return bool(((state.prefs or {}).get(category) or {}).get(channel, True))


def _hm(raw: str) -> time:
    h, m = raw.split(":")
    return time(int(h), int(m))


def quiet_window(state: NotifyAccount) -> tuple[time, time] | None:
    s = get_settings()
    if state.quiet_enabled is False:
        return None
    return _hm(state.quiet_start or s.notify_quiet_start), _hm(state.quiet_end or s.notify_quiet_end)


def quiet_until(state: NotifyAccount, now: datetime) -> datetime | None:
    """When quiet hours end, if ``now`` is inside them (Asia/Shanghai); else None."""
    window = quiet_window(state)
    if window is None or window[0] == window[1]:
        return None
    start, end = window
    local = now.astimezone(clock.SHANGHAI)
    t = local.time()
    inside = (start <= t or t < end) if start > end else (start <= t < end)
    if not inside:
        return None
    until = local.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    if until <= local:
        until += timedelta(days=1)
    return until


# --- the consumer ----------------------------------------------------------------------------

def _make_consumer(event_type: str):
    def on_event(event_id: str, payload: dict) -> None:
        handle(event_type, event_id, payload)

    on_event.__name__ = on_event.__qualname__ = "on_" + event_type.replace(".", "_")
    return consumer(event_type)(on_event)


for _t in rules.event_types():
    _make_consumer(_t)


def handle(event_type: str, event_id: str, payload: dict) -> None:
    for account_id, rule in rules.routes(event_type, payload):
        notify(event_id, event_type, rule, account_id, payload)


def notify(event_id: str, event_type: str, rule: rules.Rule, account_id: str, payload: dict) -> None:
    state = state_of(account_id)
    f = rules.facts(event_type, payload)
    title, body, _ = rules.render(rule.template, f)
    if "inbox" in rule.channels:
        write_inbox(event_id, event_type, rule, account_id, title, body, payload)
    now = clock.now()
    for channel in rule.channels:
        if channel == "inbox":
            continue
        key = f"{event_id}:{account_id}:{channel}"
        if not rule.critical and not allows(state, rule.category, channel):
            _record(key, account_id, channel, event_type, payload, "not_sent", "preference")
            continue
        if channel == "push" and rule.urgency == "low":
            if _record(key, account_id, channel, event_type, payload, "not_sent", "daily_digest"):
                _add_to_daily(account_id, now)
            continue
        if channel == "push" and rule.digest and account_id == payload.get("doctor_id"):
            if not _open_digest_window(key, account_id, event_type, payload, now):
                continue
        held_until = None if rule.critical else quiet_until(state, now)
        if held_until is not None:
            _hold(key, account_id, channel, event_type, payload, held_until)
            continue
        queue_and_send(key, account_id, channel, event_type, payload, state)


def write_inbox(event_id: str, event_type: str, rule: rules.Rule, account_id: str, title: str, body: str,
                payload: dict) -> bool:
    """One TransactWriteItems: the delivery key (the duplicate guard), the item, the counter."""
    now = clock.now()
    item_id = new_id()
    link = None
    if rule.link and payload.get(rule.link[1]):
        link = {"type": rule.link[0], "id": payload[rule.link[1]]}
    try:
        with transaction() as tx:
            tx.save(_delivery(f"{event_id}:{account_id}:inbox", account_id, "inbox", event_type, {}, "sent", now),
                    condition=Delivery.key.does_not_exist())
            tx.save(InboxItem(account_id, item_id, event_type=event_type, category=rule.category, title=title,
                              body=body, link=link, read=False, created_at=now, expires_at=now + KEEP))
            tx.update(NotifyAccount(account_id), actions=[NotifyAccount.unread.add(1),
                                                          NotifyAccount.last_item.set(item_id)])
    except TransactWriteError:
        return False  # this event already reached this inbox
    return True


def _delivery(key: str, account_id: str, channel: str, event_type: str, payload: dict, status: str,
              now: datetime, reason: str | None = None, attempts: int = 0) -> Delivery:
    return Delivery(key, account_id=account_id, created_key=new_id(), channel=channel, event_type=event_type,
                    status=status, reason=reason, attempts=attempts, payload=payload, created_at=now,
                    updated_at=now, expires_at=now + KEEP)


def _record(key, account_id, channel, event_type, payload, status, reason) -> bool:
    try:
        _delivery(key, account_id, channel, event_type, payload, status, clock.now(), reason).save(
            condition=Delivery.key.does_not_exist())
    except PutError:
        return False
    logger.info("notification not sent", extra={"delivery": key, "reason": reason})
    return True


def _timer_key(key: str, attempt: int) -> str:
    return f"{key}#{attempt}#{new_id()}"


def _hold(key, account_id, channel, event_type, payload, until: datetime) -> None:
    now = clock.now()
    d = _delivery(key, account_id, channel, event_type, payload, "held", now, "quiet_hours")
    try:
        with transaction() as tx:
            tx.save(d, condition=Delivery.key.does_not_exist())
            timers.schedule(SEND_TIMER, until, {"key": key, "attempt": 1}, key=_timer_key(key, 1), tx=tx)
    except TransactWriteError:
        pass


def queue_and_send(key, account_id, channel, event_type, payload, state: NotifyAccount | None = None) -> None:
    """Claim the first try and schedule the second in one transaction, then send."""
    now = clock.now()
    nxt = _timer_key(key, 2)
    d = _delivery(key, account_id, channel, event_type, payload, "queued", now, attempts=1)
    d.next_timer = timers.timer_id_for(SEND_TIMER, nxt)
    try:
        with transaction() as tx:
            tx.save(d, condition=Delivery.key.does_not_exist())
            timers.schedule(SEND_TIMER, now + BACKOFF[0], {"key": key, "attempt": 2}, key=nxt, tx=tx)
    except TransactWriteError:
        return  # a delivery of this event to this channel exists already
    attempt(d, state)


@consumer(f"timer.{SEND_TIMER}")
def _on_send_timer(event_id: str, payload: dict) -> None:
    try:
        d = Delivery.get(payload["key"], consistent_read=True)
    except Delivery.DoesNotExist:
        return
    n = int(payload["attempt"])
    if d.status not in ("queued", "held") or int(d.attempts) != n - 1:
        return  # sent, given up, or this try was already claimed
    now = clock.now()
    actions: list[Action] = [Delivery.attempts.set(n), Delivery.status.set("queued"), Delivery.updated_at.set(now)]
    next_id = None
    try:
        with transaction() as tx:
            if n < get_settings().notify_max_attempts:
                nxt = _timer_key(d.key, n + 1)
                next_id = timers.timer_id_for(SEND_TIMER, nxt)
                timers.schedule(SEND_TIMER, now + BACKOFF[min(n - 1, len(BACKOFF) - 1)],
                                {"key": d.key, "attempt": n + 1}, key=nxt, tx=tx)
            actions.append(Delivery.next_timer.set(next_id) if next_id else Delivery.next_timer.remove())
            tx.update(d, actions=actions, condition=(Delivery.attempts == n - 1) & Delivery.status.is_in("queued", "held"))
    except TransactWriteError:
        return
    d.attempts, d.status, d.next_timer = n, "queued", next_id
    attempt(d)


def time_for(calls: int) -> float:
    """Invocation seconds for ``calls`` provider calls at their slowest and the outcome's write."""
    return calls * get_settings().provider_timeout_s + 1


def attempt(d: Delivery, state: NotifyAccount | None = None) -> None:
    """One try: stale check, send, record the outcome (the next try is already scheduled).

    With too little of the invocation left for a provider's slowest answer, a try that has a next
    one scheduled is left to it (a minute later) instead of risking the function being ended
    mid-batch, which would bring the whole batch back (a slow provider would then time out every
    batch). The last try is sent regardless: nothing comes after it."""
    if d.next_timer and not deadline.has_time(time_for(2)):  # WeChat and FCM fetch a token first
        logger.info("try left to the next one: too little time left", extra={"delivery": d.key})
        d.update(actions=[Delivery.reason.set("retrying: out_of_time"), Delivery.updated_at.set(clock.now())])
        return
    event_type = d.event_type
    rule = rules.rule_for(event_type, d.payload, d.account_id)
    try:
        if rule is not None and rule.stale and stale.is_stale(rule.stale, d.payload):
            return _finish(d, "not_sent", "stale")
        sent = SENDERS[d.channel](d, rule, state)
    except providers.Transient as exc:
        last = int(d.attempts) >= get_settings().notify_max_attempts
        logger.warning("provider error", extra={"delivery": d.key, "code": exc.code, "attempt": int(d.attempts)})
        if last:
            return _finish(d, "failed", exc.code)
        d.update(actions=[Delivery.reason.set(f"retrying: {exc.code}"), Delivery.updated_at.set(clock.now())])
        return
    except providers.InvalidToken as exc:
        return _finish(d, "failed", "invalid_token", provider=exc.code)
    except providers.NoGrant:
        return _finish(d, "not_sent", "no_grant")
    except providers.Quota as exc:
        return _finish(d, "not_sent", "quota", provider=exc.code)
    except providers.Rejected as exc:
        return _finish(d, "failed", exc.code)
    except NotSent as exc:
        return _finish(d, "not_sent", exc.reason)
    provider, receipt = sent if isinstance(sent, tuple) else (sent, None)
    _finish(d, "sent", None, provider=provider, receipt=receipt)


RECEIPT_KEEP = timedelta(days=3)  # providers report within hours (Aliyun and Tencent: up to 72 h)


def _finish(d: Delivery, status: str, reason: str | None, provider: str | None = None,
            receipt: str | None = None) -> None:
    """The outcome, the pending try cancelled and, for a provider that reports delivery, the
    lookup its receipt finds the delivery by — one TransactWriteItems."""
    now = clock.now()
    actions: list[Action] = [Delivery.status.set(status), Delivery.updated_at.set(now), Delivery.next_timer.remove()]
    actions.append(Delivery.reason.set(reason) if reason else Delivery.reason.remove())
    if provider:
        actions.append(Delivery.provider.set(provider))
    if receipt:
        actions.append(Delivery.receipt_id.set(receipt))
    try:
        with transaction() as tx:
            tx.update(d, actions=actions, condition=Delivery.attempts == int(d.attempts))
            if d.next_timer:
                timers.cancel(d.next_timer, tx=tx)
            if receipt:
                tx.save(NotifyCounter(f"receipt#{receipt}", data={"key": d.key}, expires_at=now + RECEIPT_KEEP))
    except TransactWriteError:
        return
    d.status, d.reason = status, reason
    logger.info("notification delivery", extra={"delivery": d.key, "status": status, "reason": reason})


class NotSent(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- channels --------------------------------------------------------------------------------

def _texts(d: Delivery, rule: rules.Rule | None) -> tuple[str, str, str]:
    template = (rule.template if rule else None) or d.payload.get("_template", "message_digest")
    return rules.render(template, rules.facts(d.event_type, d.payload, d.payload.get("_facts")))


def _send_push(d: Delivery, rule: rules.Rule | None, state: NotifyAccount | None = None) -> str:
    title, body, lock = _texts(d, rule)
    state = state or state_of(d.account_id)
    text = body if state.previews else lock
    if not state.previews:
        title = "随诊"
    extras = {}
    if rule and rule.link and d.payload.get(rule.link[1]):
        extras = {"link_type": rule.link[0], "link_id": d.payload[rule.link[1]]}
    devices = [x for x in Device.by_account.query(d.account_id) if x.enabled]
    if not devices:
        raise NotSent("no_device")
    sent: list[str] = []
    invalid, transient = 0, None
    for i, dev in enumerate(devices[:10]):
        # after the first device (the try itself checked the time): a device that has it is
        # enough; none yet, the next try sends to them all
        if i and not deadline.has_time(time_for(1)):
            if sent:
                break
            raise providers.Transient("out_of_time")
        try:
            sent.append(providers.send_push(dev.provider, dev.token, title, text, extras,
                                            critical=bool(rule and rule.critical)))
        except providers.InvalidToken as exc:
            invalid += 1
            _disable(dev, exc.code)
        except providers.Transient as exc:
            transient = exc
    if sent:
        return ",".join(sorted({x.provider for x in devices}))
    if transient is not None:
        raise transient
    if invalid:
        raise providers.InvalidToken("all_devices_invalid")
    raise providers.Rejected("push_rejected")


def _disable(dev: Device, code: str) -> None:
    try:
        dev.update(actions=[Device.enabled.set(False), Device.disabled_reason.set(code),
                            Device.updated_at.set(clock.now())], condition=Device.token == dev.token)
    except UpdateError:
        pass
    logger.info("device disabled", extra={"device_id": dev.device_id, "code": code})


def _day(now: datetime) -> str:
    return now.astimezone(clock.SHANGHAI).strftime("%Y%m%d")


def _send_sms(d: Delivery, rule: rules.Rule | None, state: NotifyAccount | None = None) -> str | tuple[str, str]:
    t = rules.TEMPLATES[rule.template] if rule else None
    if rule is None or t is None or t.sms is None:
        raise NotSent("no_template")
    key, names = t.sms
    f = rules.facts(d.event_type, d.payload)
    _spend_sms_quota(d.account_id, key)
    from chalicelib.accounts import service as accounts
    from chalicelib.core.crypto import unseal

    try:
        phone = unseal(accounts.get_account(d.account_id).phone_sealed)
    except Exception:  # noqa: BLE001  (no account or no phone: nothing to send to)
        raise NotSent("no_phone") from None
    _, body, _ = rules.render(rule.template, f)
    message_id = providers.send_sms(phone, key, {n: str(f.get(n, "")) for n in names}, text=f"【随诊】{body}")
    provider = providers.sms_provider()
    if provider in providers.RECEIPT_PROVIDERS and message_id:
        return provider, f"{provider}:{message_id}"  # the provider's status report names this id
    return provider


def _spend_sms_quota(account_id: str, key: str) -> None:
    """Per number, per template, per day (Aliyun: 50); counted by account (one number each)."""
    now = clock.now()
    limit = get_settings().sms_daily_per_template
    try:
        NotifyCounter(f"sms#{account_id}#{key}#{_day(now)}").update(
            actions=[NotifyCounter.n.add(1), NotifyCounter.expires_at.set(now + timedelta(days=2))],
            condition=NotifyCounter.n.does_not_exist() | (NotifyCounter.n < limit))
    except UpdateError:
        raise providers.Quota("daily_per_template") from None


def _send_wechat(d: Delivery, rule: rules.Rule | None, state: NotifyAccount | None = None) -> str | tuple[str, str]:
    if rule is None or not rules.TEMPLATES[rule.template].wechat:
        raise NotSent("no_template")
    template_id = providers.config().get("wechat", {}).get("templates", {}).get(rule.template)
    if not template_id:
        raise NotSent("no_template")
    try:
        grant = SubscribeGrant.get(d.account_id, template_id, consistent_read=True)
        grant.update(actions=[SubscribeGrant.remaining.add(-1)], condition=SubscribeGrant.remaining > 0)
    except (SubscribeGrant.DoesNotExist, UpdateError):
        raise providers.NoGrant("no_grant") from None
    data = rules.wechat_data(rule.template, rules.facts(d.event_type, d.payload))
    page = ""
    if rule.link and d.payload.get(rule.link[1]):
        page = f"pages/{rule.link[0]}/index?id={d.payload[rule.link[1]]}"
    try:
        return "wechat:" + providers.send_wechat(grant.openid, template_id, page, data)
    except providers.NoGrant:
        grant.update(actions=[SubscribeGrant.remaining.set(0)])  # WeChat says the user has none left
        raise
    except providers.Transient:
        grant.update(actions=[SubscribeGrant.remaining.add(1)])  # not spent: the retry needs it
        raise


SENDERS: dict[str, Any] = {"push": _send_push, "sms": _send_sms, "wechat": _send_wechat}


# --- digests ---------------------------------------------------------------------------------

def _open_digest_window(key: str, account_id: str, event_type: str, payload: dict, now: datetime) -> bool:
    """True if this push may go now (and opens a 10-minute window); else it is counted into
    the window's digest, which a timer sends at the window's end. Each step is conditional on
    the event's delivery ``key`` not existing yet, so a redelivered event neither reopens the
    window nor counts twice (it answers False: nothing to send)."""
    conversation_id = payload.get("conversation_id", "")
    counter = f"digest#{account_id}#{conversation_id}"
    try:
        with transaction() as tx:
            tx.condition_check(Delivery, key, condition=Delivery.key.does_not_exist())
            tx.update(NotifyCounter(counter),
                      actions=[NotifyCounter.started.set(timers.due_key(now)), NotifyCounter.n.set(0),
                               NotifyCounter.expires_at.set(now + timedelta(days=1))],
                      condition=NotifyCounter.started.does_not_exist()
                      | (NotifyCounter.started <= timers.due_key(now - DIGEST_WINDOW)))
        return True
    except TransactWriteError:
        pass  # a window is open (or this event was delivered before: the next step refuses it too)
    try:
        with transaction() as tx:
            tx.save(_delivery(key, account_id, "push", event_type, payload, "not_sent", now, "digest"),
                    condition=Delivery.key.does_not_exist())
            tx.update(NotifyCounter(counter), actions=[NotifyCounter.n.add(1)])
    except TransactWriteError:
        return False  # this event reached this channel before
    started = NotifyCounter.get(counter, consistent_read=True).started
    timers.schedule(DIGEST_TIMER, datetime.fromisoformat(started.replace("Z", "+00:00")) + DIGEST_WINDOW,
                    {"account_id": account_id, "conversation_id": conversation_id, "started": started},
                    key=f"{account_id}#{conversation_id}#{started}")
    return False


@consumer(f"timer.{DIGEST_TIMER}")
def _on_digest_timer(event_id: str, payload: dict) -> None:
    try:
        c = NotifyCounter.get(f"digest#{payload['account_id']}#{payload['conversation_id']}", consistent_read=True)
    except NotifyCounter.DoesNotExist:
        return
    if c.started != payload["started"] or not int(c.n):
        return
    key = f"digest:{payload['account_id']}:{payload['conversation_id']}:{payload['started']}:push"
    _send_synthetic(key, payload["account_id"], "message.digest", "message_digest", int(c.n),
                    {"conversation_id": payload["conversation_id"]})


def _add_to_daily(account_id: str, now: datetime) -> None:
    day = _day(now)
    local = now.astimezone(clock.SHANGHAI)
    at = local.replace(hour=DAILY_DIGEST_AT.hour, minute=0, second=0, microsecond=0)
    if at <= local:
        at += timedelta(days=1)
        day = _day(at)
    NotifyCounter(f"daily#{account_id}#{day}").update(
        actions=[NotifyCounter.n.add(1), NotifyCounter.expires_at.set(now + timedelta(days=3))])
    timers.schedule(DAILY_TIMER, at, {"account_id": account_id, "day": day}, key=f"{account_id}#{day}")


@consumer(f"timer.{DAILY_TIMER}")
def _on_daily_timer(event_id: str, payload: dict) -> None:
    try:
        c = NotifyCounter.get(f"daily#{payload['account_id']}#{payload['day']}", consistent_read=True)
    except NotifyCounter.DoesNotExist:
        return
    if int(c.n):
        _send_synthetic(f"daily:{payload['account_id']}:{payload['day']}:push", payload["account_id"],
                        "notify.daily_digest", "daily_digest", int(c.n), {})


def _send_synthetic(key: str, account_id: str, event_type: str, template: str, count: int, extra: dict) -> None:
    payload: dict[str, Any] = {"_template": template, "_facts": {"count": count}, **extra}
    state = state_of(account_id)
    held_until = quiet_until(state, clock.now())
    if held_until is not None:
        return _hold(key, account_id, "push", event_type, payload, held_until)
    queue_and_send(key, account_id, "push", event_type, payload, state)
