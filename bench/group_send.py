"""Group send (群发) of ``BENCH_GROUP_N`` recipients (1,000 by default): the request and the whole
fan-out (planning pages, delivery batches) as the queue would run it, in one measured iteration.

Budget: ≤ 2 DynamoDB calls per recipient, everything included (the send's own writes, each
batch's BatchGetItem and progress update, the consumers' completion markers). The wall time is
in-process moto's, whose transactions deep-copy every table they touch (outbox stream included),
so it grows faster than linearly here and says little about DynamoDB.
"""

import os

from bench.harness import Scenario
from tests.doctors_support import make_doctor
from tests.support import OutboxDrain

N = int(os.environ.get("BENCH_GROUP_N", "1000"))


def _setup(env):
    from tests.group_send_support import seed_patients

    doctor = make_doctor(env.api, name="周医生", department="呼吸科")
    seed_patients(doctor.account_id, N)
    drain = OutboxDrain()
    drain.skip_existing()
    return {"doctor": doctor, "drain": drain}


def _send_and_deliver(env, st):
    r = env.api.post("/v1/doctor/group-messages", {"all_patients": True, "text": "流感疫苗已到，可预约接种"},
                     token=st["doctor"].token)
    if r.status != 202:
        return r.status
    st["drain"](max_rounds=N // 50 + 20)
    g = env.api.get(f"/v1/doctor/group-messages/{r.body['send_id']}", token=st["doctor"].token).body
    return 202 if (g["status"], g["delivered"], g["failed"]) == ("done", N, 0) else 500


SCENARIOS = [
    Scenario(f"group send to {N} patients, delivered (calls for all recipients)", {"total": 2 * N},
             _setup, _send_and_deliver, iterations=1, expect_status=202, ratio_budget=None),
]
