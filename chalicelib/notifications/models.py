"""Notifications tables: inbox items, per-account state (unread count, preferences), deliveries
(one per event × recipient × channel, the exactly-once key), devices, WeChat subscribe grants and
small counters (provider quotas, digests)."""

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.core.db import meta, register


@register
class InboxItem(Model):
    """One in-app notification. ``item_id`` is a ULID, so a Query newest-first is the inbox."""

    Meta = meta("notifications")
    account_id = UnicodeAttribute(hash_key=True)
    item_id = UnicodeAttribute(range_key=True)
    event_type = UnicodeAttribute()
    category = UnicodeAttribute()
    title = UnicodeAttribute()
    body = UnicodeAttribute()
    link = JSONAttribute(null=True)  # {"type": "conversation" | "booking" | "order" | ..., "id": ...}
    read = BooleanAttribute(default=False)
    created_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute(null=True)


@register
class NotifyAccount(Model):
    """Per-account state: the unread counter with its read-all watermark, and preferences.
    ``last_item`` lets "mark all read" refuse to zero a counter that a new item just raised."""

    Meta = meta("notify_accounts")
    account_id = UnicodeAttribute(hash_key=True)
    unread = NumberAttribute(default=0)
    last_item = UnicodeAttribute(null=True)
    read_upto = UnicodeAttribute(null=True)
    prefs = JSONAttribute(null=True)  # {"<category>": {"<channel>": bool}}
    quiet_start = UnicodeAttribute(null=True)  # "HH:MM" Asia/Shanghai
    quiet_end = UnicodeAttribute(null=True)
    quiet_enabled = BooleanAttribute(null=True)
    previews = BooleanAttribute(null=True)


class ByAccount(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)  # "<ULID>" (time-ordered)


@register
class Delivery(Model):
    """``key = "{event_id}:{recipient}:{channel}"`` written with attribute_not_exists: a
    redelivered event finds it and sends nothing twice."""

    Meta = meta("notification_deliveries")
    key = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    created_key = UnicodeAttribute()
    channel = UnicodeAttribute()  # inbox | push | sms | wechat
    event_type = UnicodeAttribute()
    status = UnicodeAttribute()  # queued | held | sent | delivered | failed | not_sent
    reason = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    provider = UnicodeAttribute(null=True)
    payload = JSONAttribute(default=dict)  # the event's payload (ids only), to re-render on retry
    next_timer = UnicodeAttribute(null=True)  # the pending try's timer, cancelled by a success
    receipt_id = UnicodeAttribute(null=True)  # "<provider>:<message id>" where the provider reports delivery
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute(null=True)
    by_account = ByAccount()


class DevicesOf(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_account"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)


@register
class Device(Model):
    """A push token. The id is a hash of provider + token, so a token that signs in to another
    account moves there (one item) and leaves the old account."""

    Meta = meta("devices")
    device_id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    platform = UnicodeAttribute()  # ios | android
    provider = UnicodeAttribute()  # jpush | apns | fcm
    token = UnicodeAttribute()
    app_version = UnicodeAttribute(null=True)
    locale = UnicodeAttribute(null=True)
    enabled = BooleanAttribute(default=True)
    disabled_reason = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute()
    by_account = DevicesOf()


@register
class SubscribeGrant(Model):
    """WeChat subscribe-message grants: each one-time acceptance adds one message."""

    Meta = meta("wechat_grants")
    account_id = UnicodeAttribute(hash_key=True)
    template_id = UnicodeAttribute(range_key=True)
    openid = UnicodeAttribute()
    remaining = NumberAttribute(default=0)
    updated_at = UTCDateTimeAttribute()


@register
class NotifyCounter(Model):
    """Small counters: provider quotas per number/template/day, digest windows."""

    Meta = meta("notify_counters")
    key = UnicodeAttribute(hash_key=True)
    n = NumberAttribute(default=0)
    started = UnicodeAttribute(null=True)
    data = JSONAttribute(null=True)
    expires_at = TTLAttribute(null=True)
