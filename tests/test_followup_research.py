"""Research consent and the de-identified export: only consenting patients at export time, a
pseudonym per export, days relative to the anchor, no identifier or free text; 202 + progress;
every exported patient audited."""

import csv
import io
from urllib.parse import urlparse

import pytest

from chalicelib.core import audit
from chalicelib.core.aws import client
from chalicelib.core.config import get_settings
from tests.followup_support import World, answers, tick


@pytest.fixture
def world(api, clock, drain):
    w = World(api)
    drain()
    return w


def _consent(api, user, profile_id):
    v = api.get("/v1/followup/research-consent", token=user.token).body["version"]
    r = api.call("PUT", f"/v1/followup/profiles/{profile_id}/research-consent", {"version": v, "accepted": True},
                 token=user.token)
    assert r.status == 200 and r.body["status"] == "granted", r.body
    return r.body


def _csv(url: str) -> list[dict]:
    bucket = get_settings().attachments_bucket
    key = urlparse(url).path.lstrip("/").removeprefix(bucket + "/")  # path- or virtual-host-style URL
    assert key.startswith("exports/")
    body = client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_export_includes_only_consenting_patients_and_no_identifier(api, world, clock, drain, monkeypatch):
    w = world
    monkeypatch.setenv("SUIZHEN_FOLLOWUP_EXPORT_PAGE", "1")  # one plan per step: the export runs in several steps
    get_settings.cache_clear()
    tpl = w.template()
    profiles = {"alice": w.alice.profiles[0], "child": w.alice.profiles[1], "bob": w.bob.profiles[0]}
    plans = {k: w.assign(tpl["template_id"], p, anchor="2026-11-19") for k, p in profiles.items()}
    tick(clock, drain, hours=1)  # the anchor was yesterday: T+1 09:00 has passed, pain opens
    w.fresh()
    for k, user in (("alice", w.alice), ("child", w.alice), ("bob", w.bob)):
        t = w.task(plans[k]["plan_id"], "pain", user)
        r = api.post(f"/v1/followup/plans/{plans[k]['plan_id']}/tasks/{t['task_id']}/answers",
                     answers(pain=3, note="我叫张三 电话13912345678"), token=user.token)
        assert r.status == 200, r.body
    drain()
    _consent(api, w.alice, profiles["alice"])
    _consent(api, w.bob, profiles["bob"])
    r = api.delete(f"/v1/followup/profiles/{profiles['bob']}/research-consent", token=w.bob.token)
    assert r.status == 200 and r.body["status"] == "withdrawn"
    assert api.delete(f"/v1/followup/profiles/{profiles['bob']}/research-consent", token=w.bob.token).status == 409
    # the child's profile never consented

    r = api.post(f"/v1/doctor/followup/templates/{tpl['template_id']}/exports", token=w.doctor.token)
    assert r.status == 202 and r.body["status"] == "queued" and r.body["download_url"] is None
    export_id = r.body["export_id"]
    events = drain()
    assert events.count("followup.export_step") == 3 and "followup.export_ready" in events  # one step per plan
    r = api.get(f"/v1/doctor/followup/exports/{export_id}", token=w.doctor.token)
    assert r.status == 200 and r.body["status"] == "ready", r.body
    assert (r.body["plans_seen"], r.body["patients"]) == (3, 1) and r.body["expires_in"] == 300
    rows = _csv(r.body["download_url"])
    assert {row["pid"] for row in rows} and len({row["pid"] for row in rows}) == 1
    assert {row["key"] for row in rows} == {"pain", "temp", "mood", "score", "band"}  # no free text
    assert {row["due_day"] for row in rows} == {"1"} and {row["done_day"] for row in rows} == {"1"}
    text = "".join(",".join(row.values()) for row in rows)
    for ident in [*profiles.values(), *(p["plan_id"] for p in plans.values()), "张三", "13912345678",
                  w.alice.account_id, "2026-11"]:
        assert ident not in text
    # a second export gives the same patient another pseudonym
    r2 = api.post(f"/v1/doctor/followup/templates/{tpl['template_id']}/exports", token=w.doctor.token)
    drain()
    rows2 = _csv(api.get(f"/v1/doctor/followup/exports/{r2.body['export_id']}", token=w.doctor.token).body["download_url"])
    assert {row["pid"] for row in rows2}.isdisjoint({row["pid"] for row in rows})
    # every export audited against the patients it included, and only those
    exported = [a for a in audit.AuditRecord.query(profiles["alice"]) if a.action == "export"]
    assert {a.object_id for a in exported} == {export_id, r2.body["export_id"]}
    assert not [a for p in ("child", "bob") for a in audit.AuditRecord.query(profiles[p]) if a.action == "export"]
    # another doctor sees neither export
    assert api.get(f"/v1/doctor/followup/exports/{export_id}", token=w.other_doctor.token).status == 404
    get_settings.cache_clear()


def test_consent_versions(api, world):
    w = world
    pid = w.alice.profiles[0]
    assert api.get(f"/v1/followup/profiles/{pid}/research-consent", token=w.alice.token).body["status"] == "none"
    r = api.call("PUT", f"/v1/followup/profiles/{pid}/research-consent", {"version": "1999-01", "accepted": True},
                 token=w.alice.token)
    assert r.status == 422
    assert api.call("PUT", f"/v1/followup/profiles/{pid}/research-consent", {"version": "2026-01", "accepted": False},
                    token=w.alice.token).status == 400
    _consent(api, w.alice, pid)
    assert api.call("PUT", f"/v1/followup/profiles/{w.bob.profiles[0]}/research-consent",
                    {"version": "2026-01", "accepted": True}, token=w.alice.token).status == 404
