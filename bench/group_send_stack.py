"""``python -m bench.group_send_stack [--n 1000]``: issue #17's bench — a group send to 1,000
patients on the real local stack (``tests/e2e/group_send_flow.py``, the flow the e2e test runs at
CI size): wall time until all delivered, DynamoDB calls per recipient (budget ≤ 2) from the
stack's own counters, and the messaging consumer's longest invocation (its timeout is 60 s).

Starts ``python -m devstack`` on free ports (``tests.e2e.stack.Stack``). Results also go to
``bench/out/group_send_stack.json``. Figures are quoted in README (messaging, group send).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

from bench.harness import OUT_DIR


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.group_send_stack")
    p.add_argument("--n", type=int, default=1000, help="recipients")
    args = p.parse_args(argv)

    from tests.e2e import group_send_flow
    from tests.e2e.stack import Stack

    t = time.monotonic()
    stack = Stack()
    print(f"local stack up in {time.monotonic() - t:.1f} s at {stack.base}")
    try:
        r = group_send_flow.run(stack, args.n, "13700008805")
    finally:
        rc = stack.stop()
    print(f"group send to {r.n} on the local stack: seeded in {r.seed_s:.1f} s, 202 in {r.accepted_s:.2f} s, "
          f"all delivered {r.delivered_s:.1f} s after the POST; DynamoDB calls: the request {r.request_calls}, "
          f"the fan-out {r.fanout_calls}, {r.per_recipient:.2f} per recipient (budget ≤ "
          f"{group_send_flow.BUDGET_PER_RECIPIENT}); longest messaging consumer invocation "
          f"{r.longest_invocation_s:.1f} s (timeout 60 s)")
    os.makedirs(OUT_DIR, exist_ok=True)
    summary = {**dataclasses.asdict(r), "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    summary["progress_seen"] = sorted(set(r.progress_seen))
    with open(os.path.join(OUT_DIR, "group_send_stack.json"), "w") as f:
        json.dump(summary, f, indent=1)
    ok = r.per_recipient <= group_send_flow.BUDGET_PER_RECIPIENT
    return 0 if rc == 0 and ok else 1


if __name__ == "__main__":
    sys.exit(main())
