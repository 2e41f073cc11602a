"""Request and response bodies of the notifications routes."""

import re
from typing import Literal

from pydantic import Field, field_validator

from chalicelib.core.schemas import ListQuery, Ok, Request, Response, Timestamp, Token  # noqa: F401  (Ok is named by routes)

_HM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_TOKEN = re.compile(r"^[A-Za-z0-9:_\-.]{8,512}$")


class NotificationLink(Response):
    """Where a tap on the notification leads."""

    type: str = Field(description="conversation | binding | booking | booking_request | order | "
                                  "followup_plan | followup_alert | followup_export | opinion_case | referral_case "
                                  "(the object's kind)")
    id: str


class NotificationOut(Response):
    notification_id: str
    event_type: str
    category: str
    title: str
    body: str
    link: NotificationLink | None = Field(default=None, description="deep link to the object")
    read: bool
    created_at: Timestamp


class UnreadOut(Response):
    unread: int


class DeviceIn(Request):
    platform: Literal["ios", "android"]
    provider: Literal["jpush", "apns", "fcm"]
    token: Token = Field(min_length=8, max_length=512)
    app_version: Token | None = Field(default=None, max_length=32)
    locale: Token | None = Field(default=None, max_length=16)

    @field_validator("token")
    @classmethod
    def _token(cls, v: str) -> str:
        if not _TOKEN.match(v):
            raise ValueError("token has characters a push token does not")
        return v


class DeviceOut(Response):
    device_id: str
    platform: str
    provider: str
    app_version: str | None = None
    locale: str | None = None
    enabled: bool


class QuietHours(Request):
    enabled: bool = True
    start: str = "22:00"
    end: str = "08:00"

    @field_validator("start", "end")
    @classmethod
    def _hm(cls, v: str) -> str:
        if not _HM.match(v):
            raise ValueError("times are HH:MM (Asia/Shanghai)")
        return v


class ChannelSwitches(Request):
    push: bool | None = None
    sms: bool | None = None
    wechat: bool | None = None


class CategorySwitches(Request):
    """Only the categories named change; a channel left out keeps its setting."""

    binding: ChannelSwitches | None = None
    message: ChannelSwitches | None = None
    consultation: ChannelSwitches | None = None
    booking: ChannelSwitches | None = None
    payment: ChannelSwitches | None = None
    account: ChannelSwitches | None = None
    followup: ChannelSwitches | None = None
    referral: ChannelSwitches | None = None


class PreferencesIn(Request):
    categories: CategorySwitches = Field(default_factory=CategorySwitches)
    quiet_hours: QuietHours | None = None
    previews: bool | None = Field(default=None, description="show what was said on the lock screen")


class QuietHoursOut(Response):
    enabled: bool
    start: str = Field(description="HH:MM, Asia/Shanghai")
    end: str = Field(description="HH:MM, Asia/Shanghai")


class PreferencesOut(Response):
    categories: dict[str, dict[str, bool]] = Field(description="category → channel → on")
    quiet_hours: QuietHoursOut
    previews: bool
    critical: list[str] = Field(description="event types that bypass preferences and quiet hours")


class SubscriptionsIn(Request):
    code: Token = Field(min_length=8, max_length=128, pattern=r"^[A-Za-z0-9_\-]+$",
                        description="a fresh code from wx.login() (single use, 5 minutes): the server exchanges it "
                                    "with WeChat for the user's openid, which no client names")
    template_ids: list[Token] = Field(min_length=1, max_length=10)

    @field_validator("template_ids")
    @classmethod
    def _ids(cls, v: list[str]) -> list[str]:
        if any(not re.match(r"^[A-Za-z0-9_\-]{1,64}$", t) for t in v):
            raise ValueError("template ids are WeChat template ids")
        return v


class GrantOut(Response):
    template_id: str
    remaining: int


class GrantsOut(Response):
    items: list[GrantOut]


class AdminQuery(ListQuery):
    account: Token = Field(min_length=1, max_length=64)


class DeliveryOut(Response):
    key: str
    account_id: str
    channel: str
    event_type: str
    status: str = Field(description="queued | held | sent | delivered (the provider reported it on the handset) | "
                                     "failed | not_sent")
    reason: str | None = None
    attempts: int
    provider: str | None = None
    created_at: Timestamp
    updated_at: Timestamp


class AliyunReceiptAck(Response):
    """What Aliyun expects back from a status-report push."""

    code: int
    msg: str


class TencentReceiptAck(Response):
    """What Tencent Cloud expects back from a status callback."""

    result: int
    errmsg: str
