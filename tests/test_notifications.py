"""Notifications: the event map, inbox, channels against the fake providers, preferences and
quiet hours, exactly-once, retries, stale reminders, WeChat grants, operators."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import events
from chalicelib.core import deadline, outbox, timers
from chalicelib.core.ids import new_id
from chalicelib.notifications import delivery, rules
from chalicelib.notifications.models import Delivery, Device
from tests.bindings_support import bind, visit
from tests.doctors_support import make_admin, make_doctor, make_patient
from tests.notify_support import fail, fake_providers, received, stop_pointing, wx_code
from tests.support import count_ddb_calls

pytestmark = pytest.mark.enable_socket  # the fake providers listen on a loopback port


@pytest.fixture
def fake(aws):
    url, state = fake_providers()
    yield url
    stop_pointing()


@pytest.fixture
def people(clock, api, drain, fake):
    admin = make_admin(api)
    doctor = make_doctor(api, admin)
    alice = make_patient(api)
    drain()
    return admin, doctor, alice


def device(api, user, provider="jpush", token=None, platform="android"):
    token = token or f"tok{new_id()}"
    r = api.post("/v1/devices", {"platform": platform, "provider": provider, "token": token,
                                 "app_version": "1.0.0", "locale": "zh-CN"}, token=user.token)
    assert r.status == 201, r.body
    return r.body["device_id"], token


def inbox(api, user):
    return api.get("/v1/notifications", token=user.token).body["items"]


def deliveries(account_id):
    return {d.channel: d for d in Delivery.by_account.query(account_id)}


def emit(type_, payload):
    """What the consumer does with one event (other domains' consumers would choke on the
    made-up ids, so the event goes to the notifications consumer only)."""
    event_id = new_id()
    delivery.handle(type_, event_id, payload)
    return event_id


SAMPLE = {"binding_id": "B1", "doctor_id": "D", "patient_account_id": "P", "profile_id": "PR",
          "conversation_id": "C1", "consultation_id": "K1", "booking_id": "BK1", "session_id": "S1",
          "account_id": "P", "status": "held", "starts_at": "2026-11-23T01:00:00+00:00",
          "hold_expires_at": "2026-11-20T02:15:00+00:00", "order_id": "O1", "payer_account_id": "P",
          "amount_fen": 5000, "refund_amount_fen": 5000, "request_id": "R1", "sender_role": "doctor",
          "deadline_at": "2026-11-21T02:00:00+00:00", "hours_before": 24}


# --- the map ---------------------------------------------------------------------------------

def test_every_issue_event_is_in_the_table_and_renders():
    needed = {"binding.requested", "binding.activated", "binding.rejected", "message.created", "consultation.opened",
              "consultation.refunded", "booking.held", "booking.confirmed", "booking.offered", "booking.cancelled",
              "booking.reminder", "booking.request_declined", "booking.request_expired", "order.paid",
              "order.refunded", "doctor.verified", "doctor.rejected"}
    assert needed <= set(rules.event_types())
    for key, rule in rules.RULES.items():
        assert rule.category in rules.CATEGORIES and rule.urgency in rules.URGENCIES, key
        assert set(rule.channels) <= set(rules.CHANNELS) and "inbox" in rule.channels, key
        title, body, lock = rules.render(rule.template, rules.facts(key, SAMPLE))
        assert title and body and lock and "{" not in body + lock, key
        if "sms" in rule.channels:
            assert rules.TEMPLATES[rule.template].sms, key  # SMS only from approved templates


@pytest.mark.parametrize("template", [t for t, v in rules.TEMPLATES.items() if v.wechat])
def test_wechat_fields_within_limits_for_every_template(template):
    long = {k: "很长的医生姓名和医院名称以及科室名称超过二十个字符" * 2 for k in ("doctor_label", "title", "status_word")}
    for f in (rules.facts("booking.held", SAMPLE), rules.facts("booking.held", SAMPLE, long)):
        for key, v in rules.wechat_data(template, f).items():
            kind = rules.TEMPLATES[template].wechat[key][0]
            assert len(v["value"]) <= rules.WECHAT_LIMITS[kind], (template, key, v)


def test_critical_set_is_small_and_exact():
    critical = {k for k, r in rules.RULES.items() if r.critical}
    assert critical == {"consultation.refunded", "booking.cancelled#doctor", "order.paid", "order.refunded",
                        "followup.alert_raised#urgent", "opinion.refunded"}


@pytest.mark.parametrize("event_type,recipient_field,channels", [
    ("binding.requested", "doctor_id", {"inbox", "push"}),
    ("binding.activated", "patient_account_id", {"inbox", "push", "wechat"}),
    ("binding.rejected", "patient_account_id", {"inbox", "push"}),
    ("consultation.opened", "doctor_id", {"inbox", "push"}),
    ("consultation.refunded", "patient_account_id", {"inbox", "push", "sms"}),
    ("booking.held", "account_id", {"inbox", "push", "wechat"}),
    ("booking.offered", "account_id", {"inbox", "push", "sms"}),
    ("booking.confirmed", "account_id", {"inbox", "push", "wechat"}),
    ("booking.request_declined", "account_id", {"inbox", "push"}),
    ("order.paid", "payer_account_id", {"inbox", "push"}),
    ("order.refunded", "payer_account_id", {"inbox", "push", "sms"}),
    ("doctor.verified", "doctor_id", {"inbox", "push", "sms"}),
    ("doctor.rejected", "doctor_id", {"inbox", "push"}),
])
def test_each_event_reaches_its_recipient_on_its_channels(api, people, drain, fake, event_type, recipient_field,
                                                          channels):
    _, doctor, alice = people
    device(api, doctor)
    device(api, alice)
    payload = {**SAMPLE, "doctor_id": doctor.account_id, "patient_account_id": alice.account_id,
               "account_id": alice.account_id, "payer_account_id": alice.account_id}
    who = doctor if payload[recipient_field] == doctor.account_id else alice
    other = alice if who is doctor else doctor
    before = {i["notification_id"] for i in inbox(api, who)} | {i["notification_id"] for i in inbox(api, other)}
    known = {d.key for d in Delivery.by_account.query(who.account_id)}
    event_id = emit(event_type, payload)
    drain()
    items = [i for i in inbox(api, who) if i["event_type"] == event_type and i["notification_id"] not in before]
    assert len(items) == 1
    rule = rules.RULES[event_type]
    assert items[0]["title"] == rules.TEMPLATES[rule.template].title
    assert not [i for i in inbox(api, other) if i["notification_id"] not in before]
    got = {d.channel for d in Delivery.by_account.query(who.account_id) if d.key not in known}
    assert got == channels and all(k.startswith(event_id) for k in
                                   {d.key for d in Delivery.by_account.query(who.account_id)} - known)
    pushes = received(fake, "jpush")
    assert len(pushes) == 1 and pushes[0]["body"]["options"]["classification"] == 1
    assert pushes[0]["body"]["notification"]["alert"] == rules.TEMPLATES[rule.template].lock  # lock-screen text


def test_message_created_goes_to_the_other_side_through_the_api(api, people, drain, fake):
    _, doctor, alice = people
    conv = bind(api, doctor, alice)["binding_id"]
    drain()
    api.post(f"/v1/conversations/{conv}/messages", {"text": "我的血压是160/100"}, token=alice.token)
    drain()
    items = inbox(api, doctor)
    msg = [i for i in items if i["event_type"] == "message.created"]
    assert msg and msg[0]["link"] == {"type": "conversation", "id": conv}
    assert "160" not in msg[0]["body"]  # what happened, never what was said
    assert not [i for i in inbox(api, alice) if i["event_type"] == "message.created"]


def test_binding_request_reaches_the_doctor_and_approval_the_patient(api, clock, drain, fake):
    admin = make_admin(api)
    doctor = make_doctor(api, admin)
    alice = make_patient(api)
    api.patch("/v1/doctor/settings", {"approval": "manual"}, token=doctor.token)  # may not exist: then auto
    code = api.post("/v1/doctor/codes/live", token=doctor.token).body["code"]
    b = api.post("/v1/bindings", visit(code, alice.profiles[0]), token=alice.token).body
    drain()
    kinds = {i["event_type"] for i in inbox(api, doctor)} | {i["event_type"] for i in inbox(api, alice)}
    assert ("binding.requested" in kinds) or ("binding.activated" in kinds), b


# --- inbox -----------------------------------------------------------------------------------

def test_inbox_newest_first_unread_count_mark_one_and_all(api, people, drain):
    _, doctor, alice = people
    for i in range(3):
        emit("order.paid", {**SAMPLE, "payer_account_id": alice.account_id, "order_id": f"O{i}"})
    drain()
    items = inbox(api, alice)
    assert [i["link"]["id"] for i in items if i["event_type"] == "order.paid"] == ["O2", "O1", "O0"]
    count = api.get("/v1/notifications/unread-count", token=alice.token).body["unread"]
    assert count == len(items)
    r = api.post(f"/v1/notifications/{items[0]['notification_id']}/read", token=alice.token)
    assert r.status == 200 and r.body["unread"] == count - 1
    again = api.post(f"/v1/notifications/{items[0]['notification_id']}/read", token=alice.token)
    assert again.body["unread"] == count - 1  # once only
    assert api.post("/v1/notifications/read-all", token=alice.token).body["unread"] == 0
    assert all(i["read"] for i in inbox(api, alice))
    emit("order.paid", {**SAMPLE, "payer_account_id": alice.account_id, "order_id": "O9"})
    drain()
    assert api.get("/v1/notifications/unread-count", token=alice.token).body["unread"] == 1
    page = api.get("/v1/notifications?limit=2", token=alice.token).body
    assert len(page["items"]) == 2 and page["next_cursor"]


def test_inbox_item_costs_at_most_3_dynamodb_calls(api, people):
    _, doctor, alice = people
    rule = rules.RULES["binding.rejected"]
    with count_ddb_calls() as calls:
        state = delivery.state_of(alice.account_id)
        assert state is not None
        delivery.write_inbox(new_id(), "binding.rejected", rule, alice.account_id, "t", "b", SAMPLE)
    assert len(calls) <= 3, calls


def test_nobody_reads_or_marks_another_accounts_notifications_or_devices(api, people, drain):
    _, doctor, alice = people
    bob = make_patient(api)
    emit("order.paid", {**SAMPLE, "payer_account_id": alice.account_id})
    drain()
    item = inbox(api, alice)[0]
    assert all(i["notification_id"] != item["notification_id"] for i in inbox(api, bob))
    assert api.post(f"/v1/notifications/{item['notification_id']}/read", token=bob.token).status == 404
    assert not inbox(api, alice)[0]["read"]
    dev, _ = device(api, alice)
    assert api.delete(f"/v1/devices/{dev}", token=bob.token).status == 404
    assert api.delete(f"/v1/devices/{dev}", token=alice.token).status == 200
    assert api.get(f"/v1/admin/notifications?account={alice.account_id}", token=bob.token).status == 403


# --- exactly once, retries, invalid tokens ---------------------------------------------------

def test_duplicate_event_sends_once(api, people, fake):
    _, doctor, alice = people
    device(api, alice)
    event_id = new_id()
    payload = {**SAMPLE, "payer_account_id": alice.account_id}
    for _ in range(3):
        outbox.deliver(f"{event_id}", "order.refunded", payload)
        delivery.handle("order.refunded", event_id, payload)  # a consumer re-run past its marker
    assert len(received(fake, "jpush")) == 1 and len(received(fake, "sms") + received(fake, "aliyun")) == 0
    assert len([i for i in inbox(api, alice) if i["event_type"] == "order.refunded"]) == 1


def test_provider_5xx_is_retried_on_the_timers_then_sent_once(api, people, clock, drain, fake):
    _, doctor, alice = people
    device(api, alice, provider="apns", platform="ios")
    fail(fake, "apns", "5xx", times=2)
    emit("order.paid", {**SAMPLE, "payer_account_id": alice.account_id})
    drain()
    d = deliveries(alice.account_id)["push"]
    assert d.status == "queued" and d.attempts == 1 and "retrying" in d.reason
    for minutes in (1, 2):
        clock.advance(minutes=minutes)
        timers.sweep()
        drain()
    d = deliveries(alice.account_id)["push"]
    assert d.status == "sent" and d.attempts == 3
    sent = received(fake, "apns")
    assert len(sent) == 1 and sent[0]["body"]["headers"]["apns-topic"] == "cn.suizhen.app"
    clock.advance(minutes=30)
    timers.sweep()
    drain()
    assert len(received(fake, "apns")) == 1  # the success cancelled the next try


def paid_with_push_failing(api, fake, drain, user, times: int) -> None:
    """order.paid for ``user``, whose one FCM device answers 5xx the first ``times`` tries."""
    device(api, user, provider="fcm")
    fail(fake, "fcm", "5xx", times=times)
    emit("order.paid", {**SAMPLE, "payer_account_id": user.account_id})
    drain()


def next_tries(clock, drain, n: int) -> None:
    """``n`` more tries, each past the longest gap between two."""
    for _ in range(n):
        clock.advance(minutes=16)
        timers.sweep()
        drain()


def test_retries_are_bounded_then_failed_and_an_operator_can_retry(api, people, clock, drain, fake):
    admin, doctor, alice = people
    paid_with_push_failing(api, fake, drain, alice, times=5)
    next_tries(clock, drain, 6)
    d = deliveries(alice.account_id)["push"]
    assert d.status == "failed" and d.attempts == 5 and received(fake, "fcm") == []
    admin = api.relogin(admin)  # the clock moved past the access token's 15 minutes
    listed = api.get(f"/v1/admin/notifications?account={alice.account_id}", token=admin.token).body["items"]
    row = [x for x in listed if x["channel"] == "push"][0]
    assert row["status"] == "failed" and row["reason"].startswith("fcm_")
    r = api.post(f"/v1/admin/notifications/{row['key']}/retry", token=admin.token)
    assert r.status == 200 and r.body["status"] == "queued"
    assert api.post(f"/v1/admin/notifications/{row['key']}/retry", token=admin.token).status == 409
    timers.sweep()
    drain()
    assert deliveries(alice.account_id)["push"].status == "sent" and len(received(fake, "fcm")) == 1


class InvocationLeft:
    """Lambda's context as a consumer sees it, with the time left (ms) the test sets: one value
    per question, the last one repeated."""

    def __init__(self, *left_ms: int):
        self.left = list(left_ms)

    def get_remaining_time_in_millis(self) -> int:
        return self.left.pop(0) if len(self.left) > 1 else self.left[0]


def consume_from_queue(event_type: str, payload: dict, context: InvocationLeft) -> dict:
    """The notifications consumer invoked by SQS with one message (Powertools batch processing)."""
    message = {"event_id": new_id(), "type": event_type, "payload": payload}
    record = {"messageId": "m1", "receiptHandle": "r1", "body": json.dumps(message), "attributes": {},
              "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
              "eventSourceARN": "arn:aws-cn:sqs:cn-north-1:123456789012:suizhen-test-notifications",
              "awsRegion": "cn-north-1"}
    return events.consume("notifications", {"Records": [record]}, context)


def test_a_try_with_too_little_of_the_invocation_left_is_left_to_the_next(api, people, clock, drain, fake):
    _, doctor, alice = people
    device(api, alice, provider="jpush")
    # a try needs two provider calls at their slowest (1 s each here) and a write: 3 s
    out = consume_from_queue("order.paid", {**SAMPLE, "payer_account_id": alice.account_id}, InvocationLeft(2_500))
    assert out == {"batchItemFailures": []}  # nothing for SQS to bring back
    d = deliveries(alice.account_id)["push"]
    assert (d.status, int(d.attempts), d.reason) == ("queued", 1, "retrying: out_of_time")
    assert received(fake) == []
    assert [i["event_type"] for i in inbox(api, alice)] == ["order.paid"]  # the inbox waits on no provider
    clock.advance(minutes=1)
    timers.sweep()
    drain()
    d = deliveries(alice.account_id)["push"]
    assert (d.status, int(d.attempts)) == ("sent", 2) and len(received(fake, "jpush")) == 1


def test_a_push_goes_to_the_devices_the_time_left_allows(api, people, clock, drain, fake):
    _, doctor, alice = people
    for _ in range(3):
        device(api, alice, provider="jpush")
    # asked three times: before the try (10 s), before the second device (10 s), before the third (1.5 s)
    consume_from_queue("order.paid", {**SAMPLE, "payer_account_id": alice.account_id},
                       InvocationLeft(10_000, 10_000, 1_500))
    d = deliveries(alice.account_id)["push"]
    assert d.status == "sent" and len(received(fake, "jpush")) == 2
    clock.advance(minutes=30)
    timers.sweep()
    drain()
    assert len(received(fake, "jpush")) == 2  # sent is sent: the next try was cancelled


def test_the_last_try_is_sent_whatever_time_is_left(api, people, clock, drain, fake):
    _, doctor, alice = people
    paid_with_push_failing(api, fake, drain, alice, times=4)
    next_tries(clock, drain, 3)  # tries 2-4 fail too
    assert int(deliveries(alice.account_id)["push"].attempts) == 4
    clock.advance(minutes=16)
    with deadline.invocation(InvocationLeft(100)):  # the fifth and last try, 0.1 s left
        timers.sweep()
        drain()
    d = deliveries(alice.account_id)["push"]
    assert (d.status, int(d.attempts)) == ("sent", 5) and len(received(fake, "fcm")) == 1


def test_invalid_token_disables_the_device(api, people, drain, fake):
    _, doctor, alice = people
    dev, _ = device(api, alice, provider="jpush", token="bad-token-0001")
    emit("order.paid", {**SAMPLE, "payer_account_id": alice.account_id})
    drain()
    assert Device.get(dev).enabled is False
    d = deliveries(alice.account_id)["push"]
    assert d.status == "failed" and d.reason == "invalid_token"
    emit("order.paid", {**SAMPLE, "payer_account_id": alice.account_id, "order_id": "O2"})
    drain()
    assert [x.reason for x in Delivery.by_account.query(alice.account_id) if x.channel == "push"].count("no_device") == 1


def test_a_token_moving_to_another_account_leaves_the_old_one(api, people, drain, fake):
    _, doctor, alice = people
    bob = make_patient(api)
    dev, token = device(api, alice)
    dev2, _ = device(api, bob, token=token)
    assert dev == dev2 and Device.get(dev).account_id == bob.account_id
    emit("order.paid", {**SAMPLE, "payer_account_id": alice.account_id})
    drain()
    assert deliveries(alice.account_id)["push"].reason == "no_device"


# --- preferences, quiet hours, critical ------------------------------------------------------

def test_preferences_round_trip_and_validation(api, people):
    _, doctor, alice = people
    r = api.get("/v1/me/notification-preferences", token=alice.token).body
    assert r["quiet_hours"] == {"enabled": True, "start": "22:00", "end": "08:00"} and r["previews"] is False
    assert "order.paid" in r["critical"]
    r = api.call("PUT", "/v1/me/notification-preferences", {"categories": {"booking": {"push": False}},
                                                             "quiet_hours": {"enabled": True, "start": "23:00",
                                                                             "end": "07:30"}}, token=alice.token)
    assert r.status == 200 and r.body["categories"]["booking"]["push"] is False
    assert r.body["categories"]["booking"]["wechat"] is True and r.body["quiet_hours"]["start"] == "23:00"
    bad = api.call("PUT", "/v1/me/notification-preferences", {"quiet_hours": {"start": "25:00", "end": "08:00"}},
                   token=alice.token)
    assert bad.status == 400


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.dictionaries(st.sampled_from(rules.CATEGORIES),
                       st.fixed_dictionaries({}, optional={c: st.booleans() for c in rules.OPTIONAL_CHANNELS}),
                       max_size=len(rules.CATEGORIES)),
       st.sampled_from(sorted(rules.RULES)))
def test_property_never_a_send_on_a_disabled_non_critical_channel(prefs, rule_key):
    """Over random preference sets: the routing decision sends nothing the user switched off,
    unless the rule is critical."""
    from chalicelib.notifications.models import NotifyAccount

    state = NotifyAccount("acct", prefs=prefs, quiet_enabled=False)
    rule = rules.RULES[rule_key]
    for channel in rule.channels:
        if channel == "inbox":
            continue
        allowed = rule.critical or delivery.allows(state, rule.category, channel)
        if prefs.get(rule.category, {}).get(channel) is False and not rule.critical:
            assert not allowed


def test_disabled_channel_is_not_sent_and_recorded(api, people, drain, fake):
    _, doctor, alice = people
    device(api, alice)
    api.call("PUT", "/v1/me/notification-preferences", {"categories": {"booking": {"push": False, "sms": False},
                                                                        "payment": {"push": False}}},
             token=alice.token)
    emit("booking.offered", {**SAMPLE, "account_id": alice.account_id})
    emit("order.paid", {**SAMPLE, "payer_account_id": alice.account_id})  # critical: bypasses
    drain()
    by = {(d.event_type, d.channel): d for d in Delivery.by_account.query(alice.account_id)}
    assert by[("booking.offered", "push")].status == "not_sent" and by[("booking.offered", "push")].reason == "preference"
    assert by[("booking.offered", "sms")].reason == "preference"
    assert by[("order.paid", "push")].status == "sent"
    assert len(received(fake, "jpush")) == 1


def test_quiet_hours_hold_push_and_release_at_8_inbox_at_once(api, people, clock, drain, fake):
    _, doctor, alice = people
    device(api, alice)
    clock.advance(hours=13)  # 23:00 Shanghai
    alice = api.relogin(alice)
    emit("booking.confirmed", {**SAMPLE, "account_id": alice.account_id})
    emit("consultation.refunded", {**SAMPLE, "patient_account_id": alice.account_id})  # critical
    drain()
    assert {i["event_type"] for i in inbox(api, alice)} >= {"booking.confirmed", "consultation.refunded"}
    by = {(d.event_type, d.channel): d for d in Delivery.by_account.query(alice.account_id)}
    assert by[("booking.confirmed", "push")].status == "held"
    assert by[("consultation.refunded", "push")].status == "sent"  # critical bypass
    assert len(received(fake, "jpush")) == 1
    clock.advance(hours=8, minutes=30)  # 07:30: still quiet
    timers.sweep()
    drain()
    assert len(received(fake, "jpush")) == 1
    clock.advance(minutes=31)  # 08:01
    timers.sweep()
    drain()
    assert len(received(fake, "jpush")) == 2
    assert {(d.event_type, d.channel): d for d in Delivery.by_account.query(alice.account_id)}[
        ("booking.confirmed", "push")].status == "sent"


def test_previews_on_show_the_inbox_text_on_the_lock_screen(api, people, drain, fake):
    _, doctor, alice = people
    device(api, alice)
    api.call("PUT", "/v1/me/notification-preferences", {"previews": True}, token=alice.token)
    emit("order.paid", {**SAMPLE, "payer_account_id": alice.account_id})
    drain()
    assert received(fake, "jpush")[0]["body"]["notification"]["alert"] == "您已成功支付 50.00 元"


# --- SMS -------------------------------------------------------------------------------------

@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
def test_sms_from_templates_through_each_provider(api, people, drain, fake, provider, monkeypatch):
    from chalicelib.core.config import get_settings

    _, doctor, alice = people
    monkeypatch.setenv("SUIZHEN_SMS_PROVIDER", provider)
    get_settings.cache_clear()
    emit("order.refunded", {**SAMPLE, "payer_account_id": alice.account_id, "refund_amount_fen": 1234})
    drain()
    got = received(fake, provider)
    assert len(got) == 1
    if provider == "aliyun":
        assert got[0]["body"]["TemplateCode"] == "SMS_0005" and got[0]["body"]["TemplateParam"] == '{"amount":"12.34"}'
        assert got[0]["body"]["PhoneNumbers"] == alice.phone
    else:
        assert got[0]["body"]["TemplateId"] == "SMS_0005" and got[0]["body"]["TemplateParamSet"] == ["12.34"]
    assert deliveries(alice.account_id)["sms"].status == "sent"


def test_login_code_goes_through_the_sms_interface(api, aws, fake, monkeypatch):
    from chalicelib.core.config import get_settings

    monkeypatch.setenv("SUIZHEN_SMS_PROVIDER", "aliyun")
    get_settings.cache_clear()
    r = api.post("/v1/auth/sms-code", {"phone": "13912345678"})
    assert r.status == 202
    got = received(fake, "aliyun")
    assert got[0]["body"]["TemplateCode"] == "SMS_0001" and '"code":' in got[0]["body"]["TemplateParam"]


def test_sms_quota_per_number_per_template_per_day(api, people, drain, fake, monkeypatch):
    from chalicelib.core.config import get_settings

    _, doctor, alice = people
    monkeypatch.setenv("SUIZHEN_SMS_PROVIDER", "aliyun")
    monkeypatch.setenv("SUIZHEN_SMS_DAILY_PER_TEMPLATE", "2")
    get_settings.cache_clear()
    for i in range(3):
        emit("order.refunded", {**SAMPLE, "payer_account_id": alice.account_id, "order_id": f"O{i}"})
    drain()
    sms = [d for d in Delivery.by_account.query(alice.account_id) if d.channel == "sms"]
    assert sorted(d.status for d in sms) == ["not_sent", "sent", "sent"]
    assert [d.reason for d in sms if d.status == "not_sent"] == ["quota"] and len(received(fake, "aliyun")) == 2
    fail(fake, "aliyun", "quota")
    emit("order.refunded", {**SAMPLE, "payer_account_id": alice.account_id, "order_id": "O9"})
    monkeypatch.setenv("SUIZHEN_SMS_DAILY_PER_TEMPLATE", "50")
    get_settings.cache_clear()
    drain()
    assert [d.reason for d in Delivery.by_account.query(alice.account_id) if d.channel == "sms"].count("quota") == 2


@pytest.mark.parametrize("provider", ["aliyun", "tencent"])
def test_sms_status_reports_mark_deliveries_delivered_or_failed(api, people, drain, fake, provider, monkeypatch):
    import json
    import urllib.request

    from chalicelib.core.config import get_settings

    admin, doctor, alice = people
    monkeypatch.setenv("SUIZHEN_SMS_PROVIDER", provider)
    get_settings.cache_clear()
    for i in range(2):
        emit("order.refunded", {**SAMPLE, "payer_account_id": alice.account_id, "order_id": f"O{i}"})
    drain()
    sms = sorted((d for d in Delivery.by_account.query(alice.account_id) if d.channel == "sms"), key=lambda d: d.key)
    assert [d.status for d in sms] == ["sent", "sent"] and all(d.receipt_id.startswith(provider) for d in sms)

    def report(fail_=False):
        with urllib.request.urlopen(f"{fake}/_fake/receipts?provider={provider}{'&fail=1' if fail_ else ''}") as r:
            return json.loads(r.read())

    path = f"/v1/notify/receipts/{provider}/dev-{provider}-receipts"
    ack = {"aliyun": {"code": 0, "msg": "成功"}, "tencent": {"result": 0, "errmsg": "OK"}}[provider]
    body = report()
    # a wrong token is 404 and changes nothing; a body that is not a report is 400
    assert api.post(f"/v1/notify/receipts/{provider}/guessed", body).status == 404
    assert api.post(path, {"not": "a list"}).status == 400
    assert {d.status for d in Delivery.by_account.query(alice.account_id) if d.channel == "sms"} == {"sent"}
    with count_ddb_calls() as calls:
        r = api.post(path, body[:1])
    assert r.status == 200 and r.body == ack and calls == ["GetItem", "UpdateItem"], calls
    r = api.post(path, report(fail_=True))  # the second never reached the handset; the first stays delivered
    assert r.status == 200
    got = sorted((d for d in Delivery.by_account.query(alice.account_id) if d.channel == "sms"), key=lambda d: d.key)
    by_receipt = {d.receipt_id: (d.status, d.reason) for d in got}
    first = f"{provider}:{body[0].get('biz_id') or body[0].get('sid')}"
    assert by_receipt.pop(first) == ("delivered", None)
    assert list(by_receipt.values()) == [("failed", "undelivered: MK:0001")]
    assert api.post(path, body).status == 200  # a repeated report changes nothing
    assert sorted(d.status for d in Delivery.by_account.query(alice.account_id) if d.channel == "sms") == [
        "delivered", "failed"]
    admin = api.relogin(admin)
    rows = api.get(f"/v1/admin/notifications?account={alice.account_id}", token=admin.token).body["items"]
    assert sorted(x["status"] for x in rows if x["channel"] == "sms") == ["delivered", "failed"]


# --- WeChat subscribe messages ---------------------------------------------------------------

def test_wechat_grant_counted_no_send_without_one(api, people, drain, fake):
    _, doctor, alice = people
    r = api.post("/v1/wechat/subscriptions", {"code": wx_code(fake, "oUser123456"), "template_ids": ["WX_BOOKING"]},
                 token=alice.token)
    assert r.status == 200 and r.body["items"] == [{"template_id": "WX_BOOKING", "remaining": 1}]
    emit("booking.confirmed", {**SAMPLE, "account_id": alice.account_id, "booking_id": "BK1"})
    emit("booking.confirmed", {**SAMPLE, "account_id": alice.account_id, "booking_id": "BK2"})
    drain()
    wx = [d for d in Delivery.by_account.query(alice.account_id) if d.channel == "wechat"]
    assert sorted((d.status, d.reason) for d in wx) == [("not_sent", "no_grant"), ("sent", None)]
    sent = received(fake, "wechat")
    assert len(sent) == 1 and sent[0]["body"]["touser"] == "oUser123456" and sent[0]["body"]["template_id"] == "WX_BOOKING"
    # WeChat itself says no grant (43101): not sent, and the count goes to 0
    api.post("/v1/wechat/subscriptions", {"code": wx_code(fake, "oUser123456"), "template_ids": ["WX_BOOKING"]},
             token=alice.token)
    fail(fake, "wechat", "no_grant")
    emit("booking.confirmed", {**SAMPLE, "account_id": alice.account_id, "booking_id": "BK3"})
    drain()
    wx = [d for d in Delivery.by_account.query(alice.account_id) if d.channel == "wechat"]
    assert [d.reason for d in wx].count("no_grant") == 2


def test_the_openid_comes_from_wechat_for_the_code_never_from_the_client(api, people, drain, fake):
    _, doctor, alice = people
    bob = make_patient(api)
    # a client naming an openid is refused: the field does not exist
    r = api.post("/v1/wechat/subscriptions", {"openid": "oVictim0001", "template_ids": ["WX_BOOKING"]},
                 token=bob.token)
    assert r.status == 400, r.body
    code = wx_code(fake, "oAlice00001")
    assert api.post("/v1/wechat/subscriptions", {"code": code, "template_ids": ["WX_BOOKING"]},
                    token=alice.token).status == 200
    # the same code again (or by someone else) is refused by WeChat: 422, nothing recorded for bob
    for user in (alice, bob):
        r = api.post("/v1/wechat/subscriptions", {"code": code, "template_ids": ["WX_BOOKING"]}, token=user.token)
        assert r.status == 422 and r.error_code == "wechat_code_invalid", r.body
    r = api.post("/v1/wechat/subscriptions", {"code": "neverissued0001", "template_ids": ["WX_BOOKING"]},
                 token=bob.token)
    assert r.status == 422 and r.error_code == "wechat_code_invalid"
    fail(fake, "wechat", "5xx")
    r = api.post("/v1/wechat/subscriptions", {"code": wx_code(fake, "oBob0000001"), "template_ids": ["WX_BOOKING"]},
                 token=bob.token)
    assert r.status == 503 and r.error_code == "wechat_unavailable"
    fail(fake, "wechat", "quota")
    r = api.post("/v1/wechat/subscriptions", {"code": wx_code(fake, "oBob0000001"), "template_ids": ["WX_BOOKING"]},
                 token=bob.token)
    assert r.status == 429 and r.error_code == "wechat_rate_limited"
    for bad in ("short", "has space 0001", "x" * 129):
        r = api.post("/v1/wechat/subscriptions", {"code": bad, "template_ids": ["WX_BOOKING"]}, token=bob.token)
        assert r.status == 400, bad
    # the message goes to the openid WeChat named for alice's code
    emit("booking.confirmed", {**SAMPLE, "account_id": alice.account_id, "booking_id": "BK1"})
    emit("booking.confirmed", {**SAMPLE, "account_id": bob.account_id, "booking_id": "BK2"})
    drain()
    assert [m["body"]["touser"] for m in received(fake, "wechat")] == ["oAlice00001"]
    assert [d.reason for d in Delivery.by_account.query(bob.account_id) if d.channel == "wechat"] == ["no_grant"]


# --- stale, digests, fan-out -----------------------------------------------------------------

def test_stale_booking_reminder_is_not_sent(api, people, drain, fake):
    _, doctor, alice = people
    device(api, alice)
    emit("booking.reminder", {**SAMPLE, "account_id": alice.account_id, "booking_id": "no-such-booking"})
    drain()
    d = deliveries(alice.account_id)["push"]
    assert d.status == "not_sent" and d.reason == "stale" and received(fake, "jpush") == []


def _task_row(plan_id: str, status: str) -> dict:
    """A follow-up task as follow-up stores it, and the reminder event it raised."""
    from chalicelib.core import clock
    from chalicelib.followup.models import Task

    now = clock.now()
    Task(plan_id, "pain.0001", item_id="pain", occurrence=1, kind="questionnaire", status=status, due_at=now,
         window_ends_at=now + timedelta(days=3), remind_at=now + timedelta(days=2)).save()
    return {"plan_id": plan_id, "task_id": "pain.0001", "item_id": "pain", "kind": "questionnaire",
            "template_id": "T1", "profile_id": "PR1", "binding_id": "B1", "due_at": clock.iso(now),
            "window_ends_at": clock.iso(now + timedelta(days=3))}


def test_followup_reminder_is_not_sent_for_a_task_done_meanwhile(api, people, drain, fake):
    _, doctor, alice = people
    device(api, alice)
    who = {"doctor_id": doctor.account_id, "patient_account_id": alice.account_id}
    emit("followup.task_reminder", {**_task_row("PL-OPEN", "open"), **who})
    emit("followup.task_reminder", {**_task_row("PL-DONE", "completed"), **who})
    drain()
    pushes = {d.payload["plan_id"]: d for d in Delivery.by_account.query(alice.account_id) if d.channel == "push"}
    assert pushes["PL-OPEN"].status == "sent"
    assert pushes["PL-DONE"].status == "not_sent" and pushes["PL-DONE"].reason == "stale"
    assert len(received(fake, "jpush")) == 1


def test_doctor_gets_one_push_per_conversation_per_10_minutes_then_a_digest(api, people, clock, drain, fake):
    _, doctor, alice = people
    device(api, doctor)
    for _ in range(4):
        emit("message.created", {**SAMPLE, "sender_role": "patient", "doctor_id": doctor.account_id,
                                 "patient_account_id": alice.account_id, "conversation_id": "C1"})
    drain()
    assert len(received(fake, "jpush")) == 1
    clock.advance(minutes=10)
    timers.sweep()
    drain()
    pushes = received(fake, "jpush")
    assert len(pushes) == 2 and pushes[1]["body"]["notification"]["alert"] == "3 条新消息"
    assert len([i for i in inbox(api, doctor) if i["event_type"] == "message.created"]) == 4


def test_low_urgency_push_goes_into_a_daily_digest(api, people, clock, drain, fake):
    _, doctor, alice = people
    device(api, doctor)
    for i in range(2):
        emit("booking.request_created", {**SAMPLE, "doctor_id": doctor.account_id, "request_id": f"R{i}"})
    drain()
    assert received(fake, "jpush") == []
    clock.advance(hours=10, minutes=1)  # 20:01 Shanghai
    timers.sweep()
    drain()
    pushes = received(fake, "jpush")
    assert len(pushes) == 1 and pushes[0]["body"]["notification"]["alert"] == "您今天有 2 条提醒"


def test_devices_validation(api, people):
    _, doctor, alice = people
    r = api.post("/v1/devices", {"platform": "ios", "provider": "apns", "token": "x y"}, token=alice.token)
    assert r.status == 400
    assert timedelta(minutes=1) == delivery.BACKOFF[0]
