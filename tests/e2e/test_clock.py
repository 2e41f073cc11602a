"""The test clock over HTTP on the real local stack: what the product promises for later happens
when the clock is moved, and the local database keeps DynamoDB's promises under concurrency."""

import threading
import time
from datetime import datetime, timedelta

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.e2e.test_stack import until

pytestmark = [pytest.mark.e2e, pytest.mark.enable_socket]


@pytest.fixture(scope="module", autouse=True)
def back_to_real_time(stack):
    """Advances are permanent for the stack: start this module's stack over when it is done. An
    hour ahead first: a new SMS rate-limit window for this module's logins, whatever ran before."""
    stack.clock({"advance": "PT1H"})
    yield
    stack.clock({"reset": True})


def now(stack) -> datetime:
    return datetime.fromisoformat(stack.clock()["now"])  # Asia/Shanghai


def bind(stack, dtok: str, tok: str, hospital: str) -> str:
    me = stack.call("GET", "/v1/me", token=tok)[1]
    profile = next(p for p in me["profiles"] if p["relation"] == "self")["profile_id"]
    code = stack.call("POST", "/v1/doctor/codes/live", token=dtok)[1]["code"]
    status, binding = stack.call("POST", "/v1/bindings", {
        "code": code, "profile_id": profile, "visit_date": now(stack).date().isoformat(), "visit_type": "outpatient",
        "hospital": hospital, "consent": {"accepted": True, "version": "2026-01"}}, token=tok)
    assert status in (200, 201) and binding["status"] == "active", binding
    return profile


def pay(stack, tok: str, order_id: str) -> None:
    assert stack.call("POST", f"/v1/orders/{order_id}/pay", {"channel": "wechat_app"}, token=tok)[0] == 200
    status, delivered = stack.call("POST", "/sandbox/pay", {"order_id": order_id}, base=stack.sandbox)
    assert delivered == {"delivered": True, "api_status": 204}


def test_unanswered_paid_consultation_is_refunded_after_its_deadline(stack):
    doctor, patient = stack.login("13800000002"), stack.login("13900000002")
    dtok, tok = doctor["access_token"], patient["access_token"]
    bind(stack, dtok, tok, "上海华山医院")
    conv = until(lambda: [c["conversation_id"] for c in stack.call("GET", "/v1/conversations", token=tok)[1]["items"]
                          if c["doctor_id"] == doctor["account"]["account_id"]])[0]
    assert stack.call("PUT", "/v1/doctor/consultation-package", {"price_fen": 2000, "reply_deadline_hours": 48},
                      token=dtok)[0] == 200
    status, consult = stack.call("POST", f"/v1/conversations/{conv}/consultations", token=tok)
    assert status == 201, consult
    pay(stack, tok, consult["order_id"])
    until(lambda: stack.call("GET", f"/v1/conversations/{conv}", token=tok)[1]["consultation_id"])
    order = f"/v1/orders/{consult['order_id']}"
    assert stack.call("GET", order, token=tok)[1]["refunded_fen"] == 0

    before = now(stack)
    moved = stack.clock({"advance": "PT49H"})
    assert datetime.fromisoformat(moved["now"]) - before >= timedelta(hours=49)
    assert moved["timers_fired"] >= 1
    # the access token expired with the jump (15 minutes); the refresh token is still good
    assert stack.call("GET", order, token=tok)[0] == 401
    status, again = stack.call("POST", "/v1/auth/refresh", {"refresh_token": patient["refresh_token"]})
    assert status == 200, again
    tok = again["access_token"]
    got = until(lambda: (o := stack.call("GET", order, token=tok)[1])["refunded_fen"] == 2000 and o, timeout=15)
    assert got["status"] in ("refunded", "paid"), got
    cards = [m["card"]["type"] for m in stack.call("GET", f"/v1/conversations/{conv}/messages", token=tok)[1]["items"]
             if m.get("card")]
    assert "consultation_refunded" in cards


def test_lapsed_hold_is_released_and_the_waitlist_promoted(stack):
    doctor = stack.login("13800000001")
    alice, bob = stack.login("13900000001"), stack.login("13900000002")
    dtok, atok, btok = doctor["access_token"], alice["access_token"], bob["access_token"]
    a_profile = bind(stack, dtok, atok, "北京协和医院")
    b_profile = bind(stack, dtok, btok, "北京协和医院")
    day = (now(stack) + timedelta(days=3)).date().isoformat()
    status, session = stack.call("POST", "/v1/doctor/booking/sessions", {
        "date": day, "start_time": "09:00", "end_time": "11:00", "hospital": "北京协和医院", "campus": "东单院区",
        "room": "门诊楼 2 层 8 诊室", "capacity": 1, "fee_fen": 3000}, token=dtok)
    assert status == 201, session
    sid = session["session_id"]
    status, held = stack.call("POST", f"/v1/booking/sessions/{sid}/book", {"profile_id": a_profile}, token=atok)
    assert status == 201 and held["status"] == "held", held
    status, wait = stack.call("POST", f"/v1/booking/sessions/{sid}/waitlist", {"profile_id": b_profile}, token=btok)
    assert status == 201 and wait["position"] == 1, wait
    hold_ends = datetime.fromisoformat(held["hold_expires_at"])

    stack.clock({"to": (hold_ends + timedelta(minutes=2)).isoformat()})
    atok = stack.call("POST", "/v1/auth/refresh", {"refresh_token": alice["refresh_token"]})[1]["access_token"]
    btok = stack.call("POST", "/v1/auth/refresh", {"refresh_token": bob["refresh_token"]})[1]["access_token"]
    mine = stack.call("GET", f"/v1/booking/bookings/{held['booking_id']}", token=atok)[1]
    assert mine["status"] in ("expired", "released"), mine
    offered = until(lambda: [b for b in stack.call("GET", "/v1/booking/bookings", token=btok)[1]["items"]
                             if b["session_id"] == sid])
    assert offered[0]["status"] == "held" and offered[0]["source"] == "waitlist", offered
    # the new hold has its own 15 minutes, counted from the moment of promotion on the test clock
    assert datetime.fromisoformat(offered[0]["hold_expires_at"]) > hold_ends


def test_booking_reminder_card_appears_24h_before(stack):
    doctor, patient = stack.login("13800000001"), stack.login("13900000001")
    dtok, tok = doctor["access_token"], patient["access_token"]
    profile = bind(stack, dtok, tok, "北京协和医院")
    day = (now(stack) + timedelta(days=4)).date().isoformat()
    status, session = stack.call("POST", "/v1/doctor/booking/sessions", {
        "date": day, "start_time": "14:00", "end_time": "16:00", "hospital": "北京协和医院", "campus": "东单院区",
        "room": "门诊楼 2 层 8 诊室", "capacity": 2, "fee_fen": 3000}, token=dtok)
    assert status == 201, session
    status, b = stack.call("POST", f"/v1/booking/sessions/{session['session_id']}/book", {"profile_id": profile},
                           token=tok)
    assert status == 201, b
    pay(stack, tok, b["order_id"])
    until(lambda: stack.call("GET", f"/v1/booking/bookings/{b['booking_id']}", token=tok)[1]["status"] == "confirmed")
    conv = next(c["conversation_id"] for c in stack.call("GET", "/v1/conversations", token=tok)[1]["items"]
                if c["doctor_id"] == doctor["account"]["account_id"])

    def reminders(token):
        items = stack.call("GET", f"/v1/conversations/{conv}/messages?limit=50", token=token)[1]["items"]
        return [m["card"] for m in items if (m.get("card") or {}).get("type") == "booking_reminder"
                and m["card"].get("booking_id") == b["booking_id"]]

    starts = datetime.fromisoformat(session["starts_at"])
    stack.clock({"to": (starts - timedelta(hours=24, minutes=1)).isoformat()})
    tok = stack.call("POST", "/v1/auth/refresh", {"refresh_token": patient["refresh_token"]})[1]["access_token"]
    assert reminders(tok) == []  # not a minute early
    stack.clock({"to": (starts - timedelta(hours=24)).isoformat()})
    cards = reminders(tok)
    assert len(cards) == 1 and cards[0]["hours_before"] == 24, cards


def test_dev_clock_refuses_to_go_back(stack):
    status, body = stack.call("POST", "/dev/clock", {"to": "2020-01-01T00:00:00+08:00"})
    assert status == 400 and body["error"]["code"] == "clock_refused" and "forward" in body["error"]["message"]
    status, body = stack.call("POST", "/dev/clock", {"advance": "yesterday"})
    assert status == 400


def test_twenty_concurrent_conflicting_transactions_keep_dynamodb_promises(stack):
    """Straight at the stack's moto endpoint: every write answered 200 is kept, no cancelled
    transaction leaves a trace, and nothing answers 500."""
    ddb = boto3.client("dynamodb", endpoint_url=stack.moto, region_name="cn-north-1", aws_access_key_id="x",
                       aws_secret_access_key="x", config=Config(max_pool_connections=32, retries={"max_attempts": 1}))
    table = f"e2e-tx-{int(time.time() * 1000)}"
    ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
    # a table with data: moto copies every table when a transaction begins (to roll a cancelled one
    # back), so without serialisation the copy races the other transactions — measured against a
    # bare moto server with this test: 500s in 4 runs of 4 and a write answered 200 lost
    for j in range(0, 1000, 25):
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {"k": {"S": f"pad#{j + x}"}}}}
                                                   for x in range(25)]})
    results: dict[int, str] = {}
    gate = threading.Barrier(20)

    def tx(i: int) -> None:
        gate.wait()
        try:  # five seats, four contenders each; every transaction also writes its own item
            ddb.transact_write_items(TransactItems=[
                {"Put": {"TableName": table, "Item": {"k": {"S": f"seat#{i % 5}"}, "owner": {"N": str(i)}},
                         "ConditionExpression": "attribute_not_exists(k)"}},
                {"Put": {"TableName": table, "Item": {"k": {"S": f"mark#{i}"}, "owner": {"N": str(i)}}}},
            ])
            results[i] = "ok"
        except ClientError as exc:
            results[i] = exc.response["Error"]["Code"]

    threads = [threading.Thread(target=tx, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pages = ddb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True)
    items = {it["k"]["S"]: int(it["owner"]["N"]) for page in pages for it in page["Items"] if "owner" in it}
    ok = {i for i, r in results.items() if r == "ok"}
    assert set(results.values()) <= {"ok", "TransactionCanceledException"}, results
    assert len(ok) == 5 and {i % 5 for i in ok} == set(range(5)), results
    for i in range(20):
        if i in ok:
            assert items[f"seat#{i % 5}"] == i and items[f"mark#{i}"] == i
        else:
            assert f"mark#{i}" not in items
    assert len(items) == 10
    ddb.delete_table(TableName=table)


def test_two_resets_within_a_minute(stack):
    """SQS allows one PurgeQueue a minute per queue: a reset empties the queues by receiving
    instead, so a second reset right after the first starts over cleanly, demo data seeded."""
    for _ in range(2):
        assert stack.clock({"reset": True})["reset"] is True
    admin = stack.login("13800000000")
    assert stack.call("GET", "/v1/me", token=admin["access_token"])[1]["role"] == "admin"
