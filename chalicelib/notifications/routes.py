"""Notifications routes: the in-app inbox, devices, preferences, WeChat grants, operators' view."""

from chalicelib.core.http import Api, Ctx, ListOf
from chalicelib.core.lazy import lazy_module

service = lazy_module("chalicelib.notifications.service")
api = Api("notifications")
USERS = ("patient", "doctor", "admin")


@api.route("/v1/notifications", "GET", roles=USERS, query="ListQuery", response=ListOf("NotificationOut"),
           summary="The caller's in-app notifications, newest first, each with a deep link")
def list_notifications(ctx: Ctx):
    return service.list_items(ctx.caller, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/notifications/unread-count", "GET", roles=USERS, response="UnreadOut",
           summary="How many in-app notifications are unread")
def unread_count(ctx: Ctx):
    return service.unread(ctx.caller)


@api.route("/v1/notifications/{notification_id}/read", "POST", roles=USERS, response="UnreadOut", errors=(404,),
           summary="Mark one notification read (again is fine)")
def mark_read(ctx: Ctx, notification_id: str):
    return service.mark_read(ctx.caller, notification_id)


@api.route("/v1/notifications/read-all", "POST", roles=USERS, response="UnreadOut",
           summary="Mark every notification so far read")
def mark_all_read(ctx: Ctx):
    return service.mark_all_read(ctx.caller)


@api.route("/v1/devices", "POST", roles=USERS, request="DeviceIn", response="DeviceOut", status=201,
           idempotent=True, summary="Register this phone's push token (moves it from any other account)")
def register_device(ctx: Ctx):
    return service.register_device(ctx.caller, ctx.body)


@api.route("/v1/devices/{device_id}", "DELETE", roles=USERS, response="Ok", errors=(404,),
           summary="Stop pushing to this device (sign-out)")
def delete_device(ctx: Ctx, device_id: str):
    return service.delete_device(ctx.caller, device_id)


@api.route("/v1/me/notification-preferences", "GET", roles=USERS, response="PreferencesOut",
           summary="On/off per category and channel, quiet hours, lock-screen previews")
def get_preferences(ctx: Ctx):
    return service.preferences(ctx.caller)


@api.route("/v1/me/notification-preferences", "PUT", roles=USERS, request="PreferencesIn",
           response="PreferencesOut", summary="Change notification preferences (given parts only)")
def put_preferences(ctx: Ctx):
    return service.set_preferences(ctx.caller, ctx.body)


@api.route("/v1/wechat/subscriptions", "POST", roles=USERS, request="SubscriptionsIn", response="GrantsOut",
           errors=(422, 429, 503),
           summary="Record the subscribe-message templates the user accepted in the mini-program "
                   "(each acceptance allows one message); the openid comes from WeChat for the wx.login() code")
def add_subscriptions(ctx: Ctx):
    return service.add_grants(ctx.caller, ctx.body)


@api.route("/v1/notify/receipts/aliyun/{token}", "POST", auth=False, response="AliyunReceiptAck", errors=(400, 404),
           summary="Aliyun SMS status reports (SmsReport HTTP push; the URL carries the configured receipt token): "
                   "each sent SMS becomes delivered or failed")
def aliyun_receipts(ctx: Ctx, token: str):
    return service.provider_receipts("aliyun", token, ctx.request.raw_body or b"")


@api.route("/v1/notify/receipts/tencent/{token}", "POST", auth=False, response="TencentReceiptAck", errors=(400, 404),
           summary="Tencent Cloud SMS status callbacks (the URL carries the configured receipt token): "
                   "each sent SMS becomes delivered or failed")
def tencent_receipts(ctx: Ctx, token: str):
    return service.provider_receipts("tencent", token, ctx.request.raw_body or b"")


@api.route("/v1/admin/notifications", "GET", roles=("admin",), query="AdminQuery", response=ListOf("DeliveryOut"),
           summary="Operators: an account's deliveries with status and reason, newest first")
def admin_list(ctx: Ctx):
    q = ctx.query
    return service.admin_deliveries(q.account, q.limit, q.cursor)


@api.route("/v1/admin/notifications/{key}/retry", "POST", roles=("admin",), response="DeliveryOut",
           errors=(404, 409), summary="Operators: try a failed delivery again")
def admin_retry(ctx: Ctx, key: str):
    return service.admin_retry(ctx.caller, key)
