"""Follow-up (随访): the minute sweep with many active plans stored and 500 tasks due (DynamoDB
items read ≤ 2 × due + shards), and the calls to answer a questionnaire.

Every active plan item has exactly one pending timer (its next occurrence), so the sweep's input
is the timers table: the bench stores one pending timer per active plan (``FOLLOWUP_BENCH_PLANS``,
default 20,000 to keep ``make bench`` short on a shared machine; 100,000 gives the same reads)
and 500 that are due, then counts the items one sweep's Queries return.

Measured 2026-12-02 with ``FOLLOWUP_BENCH_PLANS=100000 python -m bench --no-cold follow``: one
sweep fired the 500 due and read 500 items (budget 2 × 500 + 8 shards = 1,008), the 100,500
timers written and swept in under 11 minutes. The answer scenario in that same process was
stopped after 18 minutes at 10.5 GB and growing (moto copies every table, 100,500 timers
included, when a transaction begins — the likely cost; its setup signs up, binds and assigns
10 patients). Measured alone
(``python -m bench --no-cold "/answers (2 alerts)"``; its calls are by key, so stored plans do
not change them): 3 calls per answered questionnaire (2 GetItem + 1 TransactWriteItems, the
budget), 23 write units for an answer raising 2 alerts, 1.12× its DynamoDB time."""

import os
from contextlib import contextmanager
from datetime import timedelta
from unittest.mock import patch

import botocore.client

from bench.harness import Scenario
from tests.bindings_support import visit
from tests.doctors_support import make_doctor, make_patient
from tests.followup_support import PAIN_Q
from tests.support import OutboxDrain

PLANS = int(os.environ.get("FOLLOWUP_BENCH_PLANS", "20000"))
DUE = 500
ANSWERS = 10
_sweep: dict = {}
_answer: dict = {}


@contextmanager
def _items_read(out: list):
    real = botocore.client.BaseClient._make_api_call

    def counting(self, op, params):
        result = real(self, op, params)
        if self.meta.service_model.service_name == "dynamodb" and op in ("Query", "Scan", "GetItem", "BatchGetItem"):
            out.append(result.get("ScannedCount", result.get("Count", 1 if result.get("Item") else 0)))
        return result

    with patch.object(botocore.client.BaseClient, "_make_api_call", counting):
        yield


def _setup_sweep(env):
    from chalicelib.core import clock, timers
    from chalicelib.core.ids import new_id

    now = clock.now()
    with timers.Timer.batch_write() as batch:
        for i in range(PLANS + DUE):
            due = now - timedelta(minutes=1) if i < DUE else now + timedelta(days=1 + i % 90)
            tid = timers.timer_id_for("followup-due", f"bench.{new_id()}")
            batch.save(timers.Timer(tid, kind="followup-due", due=timers.due_key(due), status="pending",
                                    shard=timers._shard_of(tid), payload={"plan_id": "bench", "task_id": "x", "gen": 1}))
    return _sweep


def _run_sweep(env, st):
    from chalicelib.core import timers
    from chalicelib.core.config import get_settings

    reads: list = []
    with _items_read(reads):
        fired = timers.sweep()
    shards = get_settings().timer_shards
    st.update(items_read=sum(reads), fired=fired, budget=2 * DUE + shards)
    print(f"followup sweep: {PLANS} active plans stored, {DUE} due → fired {fired}, items read {sum(reads)} "
          f"(budget 2 × {DUE} + {shards} = {2 * DUE + shards})")
    return 200 if fired == DUE and sum(reads) <= 2 * DUE + shards else 599


def _setup_answer(env):
    from chalicelib.core import clock, timers

    api = env.api
    doctor = make_doctor(api, name="周医生", department="骨科")
    drain = OutboxDrain()
    drain.skip_existing()
    yesterday = (clock.now().astimezone(clock.SHANGHAI) - timedelta(days=1)).date().isoformat()
    tpl = api.post("/v1/doctor/followup/templates", {"name": "bench", "anchor_type": "surgery", "items": [
        {"item_id": "pain", "kind": "questionnaire", "title": "疼痛", "offset_days": 1, "time": "00:00",
         "questionnaire": PAIN_Q}]}, token=doctor.token).body
    plans = []
    for _ in range(ANSWERS):
        p = make_patient(api)
        code = api.post("/v1/doctor/codes/live", token=doctor.token).body["code"]
        api.post("/v1/bindings", visit(code, p.profiles[0]), token=p.token)
        plan = api.post("/v1/doctor/followup/plans", {"template_id": tpl["template_id"], "profile_id": p.profiles[0],
                                                      "anchor_date": yesterday}, token=doctor.token).body
        plans.append((p, plan["plan_id"]))
    timers.sweep()
    drain()
    _answer.update(plans=plans, i=0)
    return _answer


def _run_answer(env, st):
    p, plan_id = st["plans"][st["i"]]
    st["i"] += 1
    return env.api.post(f"/v1/followup/plans/{plan_id}/tasks/pain.0000/answers",
                        {"answers": {"pain": 8, "temp": 38.0, "mood": "bad"}}, token=p.token).status


SCENARIOS = [
    Scenario(f"timer sweep: {PLANS} active plans, {DUE} follow-up tasks due", {"Query": 8, "total": DUE + 8},
             _setup_sweep, _run_sweep, iterations=1, expect_status=200, items_budget=2 * DUE + 8, ratio_budget=None),
    Scenario("POST /v1/followup/plans/{id}/tasks/{id}/answers (2 alerts)", {"GetItem": 2, "TransactWriteItems": 1,
                                                                           "total": 3},
             _setup_answer, _run_answer, iterations=ANSWERS),
]
