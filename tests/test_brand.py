"""Doctor brand through HTTP: reviews only from completed care, moderation, the Bayesian score,
followers, letters, articles, the public page (JSON, H5 in Chromium), the ranked directory,
authorization and DynamoDB budgets."""

from datetime import datetime, timedelta

import pytest

from chalicelib.brand import ranking
from chalicelib.core.ids import new_id
from chalicelib.core.outbox import publish
from tests.booking_support import session_body
from tests.brand_support import GOOD, attended, review, surgery_done
from tests.doctors_support import make_admin, make_doctor, make_patient
from tests.support import count_ddb_calls, dump_dom


@pytest.fixture
def world(api, clock, drain):
    admin = make_admin(api)
    doctor = make_doctor(api, admin)
    drain()  # doctor.verified → on every board
    return {"admin": admin, "doctor": doctor, "alice": make_patient(api), "bob": make_patient(api)}


def _page(api, doctor_id):
    r = api.get(f"/v1/doctors/{doctor_id}/page")
    assert r.status == 200, r.body
    return r.body


# --- reviews only from completed care ------------------------------------------------------------

def test_review_only_after_attended_booking_once_and_masked(api, world, clock, drain, wxpay):
    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    # before any completed care: nothing to review, a made-up key is 404
    assert api.get("/v1/me/reviewables", token=alice.token).body["items"] == []
    assert review(api, alice, f"booking.{new_id()}").status == 404
    doctor, alice, key = attended(api, clock, doctor, alice, wxpay, drain)
    rows = api.get("/v1/me/reviewables", token=alice.token).body["items"]
    assert [(x["service_key"], x["kind"], x["doctor_name"], x["review_id"]) for x in rows] == [
        (key, "booking", "王医生", None)]
    bob = api.relogin(bob)
    assert review(api, bob, key).status == 404  # someone else's service
    with count_ddb_calls() as calls:
        r = review(api, alice, key, {"skill": 5, "attitude": 4, "explanation": 3}, "挂号难，医生很好")
    assert r.status == 201, r.body
    assert len(calls) <= 5, calls  # right, profile name, counter item, one transaction
    assert r.body["patient"] == "张**" and "张三" not in str(r.body) and r.body["overall"] == 4.0
    again = review(api, alice, key)
    assert (again.status, again.error_code) == (409, "already_reviewed")
    shown = api.get(f"/v1/doctors/{doctor.account_id}/reviews").body["items"]
    assert [(x["patient"], x["text"], x["kind"]) for x in shown] == [("张**", "挂号难，医生很好", "booking")]
    assert "account_id" not in shown[0]
    page = _page(api, doctor.account_id)
    assert page["score"]["reviews"] == 1 and page["score"]["skill"] == 5.0
    assert page["score"]["score"] == round(ranking.bayesian(12, 1), 2)
    assert api.get("/v1/me/reviewables", token=alice.token).body["items"][0]["review_id"] == r.body["review_id"]


def test_one_review_per_service_within_30_days(api, world, clock, drain):
    doctor, alice = world["doctor"], world["alice"]
    first, second = surgery_done(alice, doctor, drain), surgery_done(alice, doctor, drain)
    # a redelivered completion event records nothing twice
    assert len(api.get("/v1/me/reviewables", token=alice.token).body["items"]) == 2
    assert review(api, alice, first).status == 201
    assert review(api, alice, first).error_code == "already_reviewed"
    clock.advance(days=30, minutes=1)
    alice = api.login(alice.phone)  # the refresh token lasts 30 days too
    late = review(api, alice, second)
    assert (late.status, late.error_code) == (422, "review_window_closed")
    assert _page(api, doctor.account_id)["score"]["reviews"] == 1
    bad = api.post("/v1/reviews", {"service_key": second, "ratings": {**GOOD, "skill": 6}}, token=alice.token)
    assert bad.status == 400
    assert api.post("/v1/reviews", {"service_key": "<x>", "ratings": GOOD}, token=alice.token).status == 400


def test_completion_events_of_each_kind_record_a_right(api, world, drain):
    doctor, alice = world["doctor"], world["alice"]
    cid, case = new_id(), new_id()
    publish("consultation.closed", {"consultation_id": cid, "conversation_id": new_id(),
                                    "patient_account_id": alice.account_id, "doctor_id": doctor.account_id,
                                    "opened_at": "2026-11-20T08:00:00+08:00", "answered_at": "2026-11-20T08:30:00+08:00",
                                    "closed_at": "2026-11-20T10:00:00+08:00"})
    publish("opinion.report_published", {"case_id": case, "patient_account_id": alice.account_id,
                                         "profile_id": alice.profiles[0], "expert_id": doctor.account_id})
    publish("consultation.refunded", {"consultation_id": new_id(), "patient_account_id": alice.account_id,
                                      "doctor_id": doctor.account_id})  # not completed care
    drain(units={"brand"})  # these stand for the real events; the other units would look for the real objects
    keys = {x["service_key"] for x in api.get("/v1/me/reviewables", token=alice.token).body["items"]}
    assert keys == {f"consultation.{cid}", f"opinion.{case}"}
    r = review(api, alice, f"consultation.{cid}")
    assert r.status == 201 and r.body["patient"] == "匿名患者"  # a consultation event names no profile
    assert _page(api, doctor.account_id)["mean_response_s"] == 1800


# --- moderation ----------------------------------------------------------------------------------

def test_report_fold_and_reply_once(api, world, drain):
    admin, doctor, alice, bob = world["admin"], world["doctor"], world["alice"], world["bob"]
    rid = review(api, alice, surgery_done(alice, doctor, drain), text="好评是医生让写的").body["review_id"]
    other = make_doctor(api, admin, name="李医生")
    # only the reviewed doctor replies, once
    assert api.post(f"/v1/doctor/reviews/{rid}/reply", {"text": "谢谢"}, token=other.token).status == 404
    assert api.post(f"/v1/doctor/reviews/{rid}/reply", {"text": "谢谢"}, token=alice.token).status == 403
    r = api.post(f"/v1/doctor/reviews/{rid}/reply", {"text": "祝早日康复"}, token=doctor.token)
    assert r.status == 200 and r.body["reply"] == "祝早日康复"
    again = api.post(f"/v1/doctor/reviews/{rid}/reply", {"text": "改一下"}, token=doctor.token)
    assert (again.status, again.error_code) == (409, "already_replied")
    # patients report (once each counts); operators see the queue and fold
    for p in (bob, bob, alice):
        assert api.post(f"/v1/reviews/{rid}/report", {"reason": "coerced"}, token=p.token).status == 200
    assert api.post(f"/v1/reviews/{new_id()}/report", {"reason": "fake"}, token=bob.token).status == 404
    queue = api.get("/v1/admin/brand/reviews", token=admin.token).body["items"]
    assert [(x["review_id"], x["reports"]) for x in queue] == [(rid, 2)]
    before = _page(api, doctor.account_id)["score"]
    assert before["reviews"] == 1
    r = api.post(f"/v1/admin/brand/reviews/{rid}/fold", {"reason": "coerced"}, token=admin.token)
    assert r.status == 200 and (r.body["status"], r.body["fold_reason"]) == ("folded", "coerced")
    assert api.post(f"/v1/admin/brand/reviews/{rid}/fold", {"reason": "fake"}, token=admin.token).status == 409
    assert api.get("/v1/admin/brand/reviews", token=admin.token).body["items"] == []
    assert api.get(f"/v1/doctors/{doctor.account_id}/reviews").body["items"] == []
    after = _page(api, doctor.account_id)["score"]
    assert (after["reviews"], after["score"]) == (0, ranking.PRIOR_MEAN)
    # a folded review takes no report and no reply
    assert api.post(f"/v1/reviews/{rid}/report", {"reason": "fake"}, token=bob.token).status == 404
    # dismissing reports keeps a review shown
    rid2 = review(api, bob, surgery_done(bob, doctor, drain)).body["review_id"]
    api.post(f"/v1/reviews/{rid2}/report", {"reason": "fake"}, token=alice.token)
    r = api.post(f"/v1/admin/brand/reviews/{rid2}/dismiss", token=admin.token)
    assert r.status == 200 and r.body["status"] == "shown"
    assert api.get("/v1/admin/brand/reviews", token=admin.token).body["items"] == []


# --- Bayesian score and the directory ------------------------------------------------------------

def test_bayesian_prior_keeps_five_fives_below_five_hundred_4_8s():
    five_fives = ranking.bayesian(5 * 15, 5)
    many = ranking.bayesian(500 * 14.4, 500)  # 4.8 overall each (three dimensions: 14.4 points)
    assert round(five_fives, 2) == 4.33 and round(many, 2) == 4.78 and many > five_fives
    assert ranking.bayesian(0, 0) == ranking.PRIOR_MEAN


def test_directory_ranks_by_rating_response_and_availability(api, world, clock, drain):
    admin, alice, bob = world["admin"], world["alice"], world["bob"]
    few, many = world["doctor"], make_doctor(api, admin, name="赵医生")
    drain()
    # `few`: two 5-star reviews; `many`: five reviews of 4.67 — more evidence wins under the prior
    for _ in range(2):
        assert review(api, alice, surgery_done(alice, few, drain)).status == 201
    for _ in range(5):
        assert review(api, bob, surgery_done(bob, many, drain),
                      {"skill": 5, "attitude": 5, "explanation": 4}).status == 201
    s_few, s_many = ranking.bayesian(30, 2), ranking.bayesian(70, 5)
    assert s_few < s_many
    with count_ddb_calls() as calls:
        r = api.get("/v1/brand/directory?sort=rating")
    assert r.status == 200 and len(calls) == 3, calls  # board Query + names + counter items
    rows = r.body["items"]
    assert [x["doctor_id"] for x in rows] == [many.account_id, few.account_id]
    assert [x["score"] for x in rows] == [round(s_many, 2), round(s_few, 2)]
    # response time: only `few` answered a consultation → first; `many` has no data → last
    publish("consultation.closed", {"consultation_id": new_id(), "patient_account_id": alice.account_id,
                                    "doctor_id": few.account_id, "opened_at": "2026-11-20T08:00:00+08:00",
                                    "answered_at": "2026-11-20T09:00:00+08:00"})
    drain(units={"brand"})
    rows = api.get("/v1/brand/directory?sort=response").body["items"]
    assert [(x["doctor_id"], x["mean_response_s"]) for x in rows] == [(few.account_id, 3600), (many.account_id, None)]
    # availability: the soonest upcoming open 加号 session first; refreshed when it starts
    many = api.relogin(many)
    far = api.post("/v1/doctor/booking/sessions", session_body(), token=many.token).body
    drain()
    rows = api.get("/v1/brand/directory?sort=availability").body["items"]
    assert [x["doctor_id"] for x in rows] == [many.account_id, few.account_id]
    assert rows[0]["next_session_at"] == far["starts_at"]
    from chalicelib.core import timers

    clock.current = datetime.fromisoformat(far["starts_at"]) + timedelta(minutes=1)
    timers.sweep()
    drain()
    rows = api.get("/v1/brand/directory?sort=availability").body["items"]
    assert [x["next_session_at"] for x in rows] == [None, None]  # the session started: nothing upcoming
    assert api.get("/v1/brand/directory?sort=fame").status == 400
    doc = api.get("/v1/openapi.json").body
    sort = next(p for p in doc["paths"]["/v1/brand/directory"]["get"]["parameters"] if p["name"] == "sort")
    assert "Bayesian" in str(sort) and "soonest" in str(sort)


# --- followers -----------------------------------------------------------------------------------

def test_follow_unfollow_idempotent_news_and_trends(api, world, clock, drain):
    doctor, alice, bob = world["doctor"], world["alice"], world["bob"]
    d = doctor.account_id
    for _ in range(2):
        r = api.call("PUT", f"/v1/doctors/{d}/follow", token=alice.token)
        assert r.status == 200 and r.body == {"doctor_id": d, "following": True, "followers": 1}
    api.call("PUT", f"/v1/doctors/{d}/follow", token=bob.token)
    assert _page(api, d)["followers"] == 2
    assert api.call("PUT", f"/v1/doctors/{new_id()}/follow", token=alice.token).status == 404
    rows = api.get("/v1/me/following", token=alice.token).body["items"]
    assert [(x["doctor_id"], x["name"], x["has_news"]) for x in rows] == [(d, "王医生", False)]
    # a new article and a new 加号 session are news for followers
    clock.advance(minutes=1)
    art = api.post("/v1/doctor/articles", {"title": "高血压怎么吃药", "body": "按时服药。"}, token=doctor.token).body
    api.post("/v1/doctor/booking/sessions", session_body(), token=doctor.token)
    drain()
    with count_ddb_calls() as calls:
        rows = api.get("/v1/me/following", token=alice.token).body["items"]
    assert len(calls) == 3, calls
    assert rows[0]["has_news"] and rows[0]["latest_article_id"] == art["article_id"]
    assert rows[0]["latest_session_date"] == session_body()["date"]
    assert api.post(f"/v1/me/following/{d}/seen", token=alice.token).status == 200
    assert not api.get("/v1/me/following", token=alice.token).body["items"][0]["has_news"]
    for _ in range(2):
        r = api.delete(f"/v1/doctors/{d}/follow", token=alice.token)
        assert r.status == 200 and r.body == {"doctor_id": d, "following": False, "followers": 1}
    assert api.get("/v1/me/following", token=alice.token).body["items"] == []
    assert api.post(f"/v1/me/following/{d}/seen", token=alice.token).status == 404
    stats = api.get("/v1/doctor/brand/stats?days=7", token=doctor.token).body
    assert stats["followers"] == 1 and len(stats["days"]) == 7
    assert (stats["days"][-1]["follows"], stats["days"][-1]["unfollows"]) == (2, 1)
    assert api.get("/v1/doctor/brand/stats", token=alice.token).status == 403


# --- articles and letters ------------------------------------------------------------------------

def test_articles_and_moderated_letters(api, world, drain):
    admin, doctor, alice, bob = world["admin"], world["doctor"], world["alice"], world["bob"]
    other = make_doctor(api, admin, name="李医生")
    art = api.post("/v1/doctor/articles", {"title": "术后饮食", "body": "清淡为主。"}, token=doctor.token).body
    aid = art["article_id"]
    assert art["path"] == f"/v1/articles/{aid}" and api.get(art["path"]).body["title"] == "术后饮食"
    assert api.patch(f"/v1/doctor/articles/{aid}", {"title": "x"}, token=other.token).status == 404
    assert api.delete(f"/v1/doctor/articles/{aid}", token=other.token).status == 404
    assert api.patch(f"/v1/doctor/articles/{aid}", {"title": "术后饮食指南"}, token=doctor.token).body["title"] == "术后饮食指南"
    assert [a["article_id"] for a in _page(api, doctor.account_id)["articles"]] == [aid]
    assert api.delete(f"/v1/doctor/articles/{aid}", token=doctor.token).body["status"] == "withdrawn"
    assert api.get(f"/v1/articles/{aid}").status == 404 and _page(api, doctor.account_id)["articles"] == []
    # letters: only after completed care; moderated before they show
    assert api.post(f"/v1/doctors/{doctor.account_id}/letters", {"text": "感谢王医生的救治"},
                    token=alice.token).error_code == "no_completed_care"
    surgery_done(alice, doctor, drain)
    r = api.post(f"/v1/doctors/{doctor.account_id}/letters", {"text": "感谢王医生的救治"}, token=alice.token)
    assert r.status == 201 and r.body["status"] == "pending" and r.body["patient"] == "张**"
    lid = r.body["letter_id"]
    assert api.get(f"/v1/doctors/{doctor.account_id}/letters").body["items"] == []
    assert api.post(f"/v1/admin/brand/letters/{lid}/approve", token=doctor.token).status == 403
    assert [x["letter_id"] for x in api.get("/v1/admin/brand/letters", token=admin.token).body["items"]] == [lid]
    assert api.post(f"/v1/admin/brand/letters/{lid}/approve", token=admin.token).body["status"] == "approved"
    assert api.post(f"/v1/admin/brand/letters/{lid}/reject", {"reason": "重复"}, token=admin.token).status == 409
    assert [x["text"] for x in _page(api, doctor.account_id)["letters"]] == ["感谢王医生的救治"]
    surgery_done(bob, doctor, drain)
    lid2 = api.post(f"/v1/doctors/{doctor.account_id}/letters", {"text": "红包已转，谢谢医生"},
                    token=bob.token).body["letter_id"]
    assert api.post(f"/v1/admin/brand/letters/{lid2}/reject", {"reason": "提及红包"},
                    token=admin.token).body["status"] == "rejected"
    assert len(api.get(f"/v1/doctors/{doctor.account_id}/letters").body["items"]) == 1
    # no field of a letter carries money
    assert "amount" not in str(api.get("/v1/openapi.json").body["components"]["schemas"]["LetterIn"])


# --- the public page -----------------------------------------------------------------------------

def test_public_page_shows_services_with_prices_within_budget(api, world, drain):
    doctor, d = world["doctor"], world["doctor"].account_id
    assert api.call("PUT", "/v1/doctor/consultation-package", {"enabled": True, "price_fen": 3000, "hours": 48,
                                                               "messages": 20, "reply_deadline_hours": 24},
                    token=doctor.token).status == 200
    api.post("/v1/doctor/booking/sessions", session_body(fee_fen=8000), token=doctor.token)
    api.call("PUT", "/v1/doctor/opinions/offer", {"price_fen": 200000, "specialties": ["高血压"], "max_open": 5,
                                                  "available": True}, token=doctor.token)
    assert api.call("PUT", "/v1/doctor/referrals/surgeon",
                    {"specialties": ["关节置换"], "region_code": "110105", "max_open": 3,
                     "windows": [{"starts_on": "2026-12-01", "ends_on": "2026-12-20"}]}, token=doctor.token).status == 200
    drain()
    with count_ddb_calls() as calls:
        page = _page(api, d)
    assert len(calls) <= 9, calls
    sv = page["services"]
    assert sv["surgery_areas"] == ["关节置换"]
    assert "名医主刀：关节置换" in api.client.http.get(f"/v1/doctors/{d}/page.html").body.decode()
    assert [s["fee_fen"] for s in sv["sessions"]] == [8000]
    assert sv["second_opinion"]["price_fen"] == 200000 and sv["consultation"]["price_fen"] == 3000
    assert page["share_path"] == f"/v1/doctors/{d}/page.html" and page["score"]["score"] == 4.0
    assert api.get(f"/v1/doctors/{new_id()}/page").status == 404
    pending = api.login("13900000077")
    api.post("/v1/doctor/application", {"name": "未审核", "hospital": "某医院", "department": "内科", "title": "resident",
                                        "licence_no": "110101199001011234"}, token=pending.token)
    assert api.get(f"/v1/doctors/{pending.account_id}/page").status == 404  # unverified: no page
    html = api.client.http.get(f"/v1/doctors/{new_id()}/page.html")
    assert html.status_code == 404 and "医生主页不存在" in html.body.decode()


XSS = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"


@pytest.mark.enable_socket
def test_h5_page_escapes_what_doctors_and_patients_typed_in_chromium(api, world, drain):
    admin, alice = world["admin"], world["alice"]
    doctor = make_doctor(api, admin, name="王<i>医生</i>")
    assert api.patch("/v1/doctor/profile", {"bio": "擅长" + XSS, "specialties": ["<b>高血压</b>"]},
                     token=doctor.token).status == 200
    api.post("/v1/doctor/articles", {"title": "文章" + XSS, "body": XSS}, token=doctor.token)
    rid = review(api, alice, surgery_done(alice, doctor, drain), text="评价" + XSS).body["review_id"]
    api.post(f"/v1/doctor/reviews/{rid}/reply", {"text": "回复" + XSS}, token=doctor.token)
    lid = api.post(f"/v1/doctors/{doctor.account_id}/letters", {"text": "感谢信" + XSS}, token=alice.token).body["letter_id"]
    api.post(f"/v1/admin/brand/letters/{lid}/approve", token=admin.token)
    r = api.client.http.get(f"/v1/doctors/{doctor.account_id}/page.html")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "script-src" not in r.headers["Content-Security-Policy"]  # no script may run at all
    page = r.body
    raw = page.decode()
    assert "<script>" not in raw and "<img" not in raw and "<i>" not in raw and raw.count("&lt;script&gt;") == 6

    out = dump_dom(page)
    dom = out.stdout
    assert '<h1 id="doctor-name">王&lt;i&gt;医生&lt;/i&gt;</h1>' in dom, out.stderr[-2000:]
    assert "pwned" not in dom.split("</title>")[0]  # no injected script changed the title
    assert "<img" not in dom and "<i>" not in dom and "<b>高血压</b>" not in dom
    for typed in ("擅长", "文章", "评价", "回复", "感谢信"):
        assert f"{typed}&lt;script&gt;" in dom
    assert "红包" in dom  # the no-gifts notice


# --- authorization -------------------------------------------------------------------------------

def test_others_objects_are_404(api, world, drain):
    admin, doctor, alice, bob = world["admin"], world["doctor"], world["alice"], world["bob"]
    key = surgery_done(alice, doctor, drain)
    assert review(api, bob, key).status == 404  # bob cannot use alice's right
    assert api.get("/v1/me/reviewables", token=bob.token).body["items"] == []
    rid = review(api, alice, key).body["review_id"]
    other = make_doctor(api, admin, name="李医生")
    assert api.post(f"/v1/doctor/reviews/{rid}/reply", {"text": "x"}, token=other.token).status == 404
    aid = api.post("/v1/doctor/articles", {"title": "t", "body": "b"}, token=doctor.token).body["article_id"]
    assert api.patch(f"/v1/doctor/articles/{aid}", {"body": "x"}, token=other.token).status == 404
    assert api.get("/v1/doctor/articles", token=other.token).body["items"] == []
    for user in (alice, doctor):
        assert api.get("/v1/admin/brand/reviews", token=user.token).status == 403
        assert api.post(f"/v1/admin/brand/reviews/{rid}/fold", {"reason": "fake"}, token=user.token).status == 403
    assert api.post(f"/v1/admin/brand/reviews/{new_id()}/fold", {"reason": "fake"}, token=admin.token).status == 404
    assert api.post(f"/v1/admin/brand/letters/{new_id()}/approve", token=admin.token).status == 404
    # doctors do not review, follow or write letters
    assert review(api, doctor, key).status == 403
    assert api.call("PUT", f"/v1/doctors/{doctor.account_id}/follow", token=other.token).status == 403


def test_follow_up_plans_link_the_doctors_articles(api, world, drain):
    from tests.bindings_support import bind
    from tests.followup_support import today

    doctor, alice = world["doctor"], world["alice"]
    bind(api, doctor, alice)
    drain()
    art = api.post("/v1/doctor/articles", {"title": "术后饮食", "body": "清淡为主。"}, token=doctor.token).body
    item = {"item_id": "diet", "kind": "article", "title": "术后饮食", "offset_days": 0,
            "article": {"title": art["title"], "body": art["body"], "article_id": art["article_id"]}}
    body = {"name": "术后宣教", "anchor_type": "surgery", "items": [item]}
    unknown = {**body, "items": [{**item, "article": {**item["article"], "article_id": new_id()}}]}
    r = api.post("/v1/doctor/followup/templates", unknown, token=doctor.token)
    assert (r.status, r.error_code) == (422, "article_not_found")
    t = api.post("/v1/doctor/followup/templates", body, token=doctor.token)
    assert t.status == 201, t.body
    p = api.post("/v1/doctor/followup/plans", {"template_id": t.body["template_id"], "profile_id": alice.profiles[0],
                                               "anchor_date": today()}, token=doctor.token)
    assert p.status == 201, p.body
    task = api.get(f"/v1/followup/plans/{p.body['plan_id']}", token=alice.token).body["tasks"][0]
    content = api.get(f"/v1/followup/plans/{p.body['plan_id']}/tasks/{task['task_id']}", token=alice.token).body
    assert content["content"]["article"]["path"] == art["path"]
    assert api.get(content["content"]["article"]["path"]).body["body"] == "清淡为主。"


def test_answered_consultation_is_reviewable_and_times_the_answer(api, world, wxpay, drain, clock):
    """Through messaging: bind, buy a paid consultation, the doctor answers 20 minutes later, it
    closes at its end; an unanswered (refunded) one gives no right."""
    from chalicelib.core import timers
    from tests.bindings_support import bind
    from tests.payments_support import pay

    doctor, alice = world["doctor"], world["alice"]
    conv = bind(api, doctor, alice)["binding_id"]
    drain()
    api.call("PUT", "/v1/doctor/consultation-package", {"price_fen": 3000, "hours": 48, "messages": 5,
                                                        "reply_deadline_hours": 24}, token=doctor.token)
    for _ in range(3):  # the free window's messages
        api.post(f"/v1/conversations/{conv}/messages", {"text": "医生您好"}, token=alice.token)
    c = api.post(f"/v1/conversations/{conv}/consultations", token=alice.token).body
    pay(api, wxpay, alice, c["order_id"])
    drain()
    assert api.post(f"/v1/conversations/{conv}/messages", {"text": "化验单"}, token=alice.token).status == 201
    clock.advance(minutes=20)
    doctor, alice = api.relogin(doctor), api.relogin(alice)  # access tokens last 15 minutes
    assert api.post(f"/v1/conversations/{conv}/messages", {"text": "指标正常"}, token=doctor.token).status == 201
    assert api.get("/v1/me/reviewables", token=alice.token).body["items"] == []  # not completed yet
    clock.advance(hours=49)
    timers.sweep()
    assert "consultation.closed" in drain()
    alice = api.relogin(alice)
    rows = api.get("/v1/me/reviewables", token=alice.token).body["items"]
    assert [x["service_key"] for x in rows] == [f"consultation.{c['consultation_id']}"]
    assert review(api, alice, rows[0]["service_key"]).status == 201
    assert _page(api, doctor.account_id)["mean_response_s"] == 20 * 60
