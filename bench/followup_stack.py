"""``python -m bench.followup_stack [--rounds 5]``: time to first alert after an urgent follow-up
answer on the real local stack (issue #12's bench), as a doctor's app would see it.

Starts ``python -m devstack`` on free ports (``tests.e2e.stack.Stack``), then runs the flow of
``tests/e2e/followup_flow.py``: a demo doctor assigns the seeded temperature template to a bound
demo patient, the test clock moves to each daily occurrence, the patient answers 39.2 ℃, and the
doctor polls (every 50 ms) his open alerts (``GET /v1/doctor/followup/alerts``) and his in-app
inbox (``GET /v1/notifications``) until the urgent alert is in both. Seconds are counted from
the answer's 2xx; each figure includes the round trip of the GET that first showed it.

The alert is stored in the answer's own transaction, so the alert list has it at once; the
notification travels the event path of AWS as the stack plays it (outbox stream → relay → SNS →
the notifications queue → its poller, relay and pollers each every 0.5 s).

Measured 2026-12-02 on the shared 2-core machine (other engineers' tests running), 5 rounds:
alert list median 0.020 s, max 0.232 s (the first round, with the API process still cold);
doctor's inbox median 0.767 s, max 2.317 s (the first round: the notifications consumer's first
event; later rounds 0.50–0.78 s, about one relay turn plus one poller turn). Stack start 47 s,
whole run 1 min 41 s. Results also go to ``bench/out/followup_stack.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from bench.harness import OUT_DIR


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.followup_stack")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for one alert")
    args = p.parse_args(argv)

    from tests.e2e.followup_flow import AlertFlow
    from tests.e2e.stack import Stack

    t = time.monotonic()
    stack = Stack()
    print(f"local stack up in {time.monotonic() - t:.1f} s at {stack.base}")
    rounds = []
    try:
        flow = AlertFlow(stack)
        for i in range(args.rounds):
            r = flow.round(timeout=args.timeout)
            rounds.append(r)
            print(f"round {i + 1} ({r.task_id}): alert list {r.alert_list_s:.3f} s, doctor's inbox {r.inbox_s:.3f} s")
    finally:
        rc = stack.stop()
    lists, inboxes = [r.alert_list_s for r in rounds], [r.inbox_s for r in rounds]
    summary = {"rounds": len(rounds), "alert_list_s": {"median": statistics.median(lists), "max": max(lists)},
               "inbox_s": {"median": statistics.median(inboxes), "max": max(inboxes)},
               "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    print(f"time to first alert after an urgent answer, {len(rounds)} rounds: "
          f"alert list median {summary['alert_list_s']['median']:.3f} s (max {summary['alert_list_s']['max']:.3f} s); "
          f"doctor's inbox median {summary['inbox_s']['median']:.3f} s (max {summary['inbox_s']['max']:.3f} s)")
    os.makedirs(OUT_DIR, exist_ok=True)
    with open(os.path.join(OUT_DIR, "followup_stack.json"), "w") as f:
        json.dump(summary, f, indent=1)
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
