"""``make test``: the suite in several pytest processes, as many at once as the machine has cores.

One process for the whole suite kept moto's in-memory account — and its table streams, which
moto never trims — alive across ~900 tests and grew past 19 GB on a 24 GB machine. The slow
files each get a process of their own and start first; the others share a few processes
(``GROUP`` files each), since each process pays ~10 s to start (imports, the session's tables).
The tests are CPU-bound in-process (moto), so one process per core divides the wall time by the
cores. A stuck test ends its process with every thread's stack printed (pytest.ini's timeout),
a stuck process is ended after ``PROCESS_LIMIT_S``. Ends with one line
``N passed, N failed, N skipped`` and exits non-zero if any failed.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

ROOT_ARGS = sys.argv[1:]
# Started first so that they do not finish last alone (seconds on the 2-core CI machine).
SLOW_FIRST = ["tests/test_notify_fanout.py", "tests/test_outbox_timers.py", "tests/test_followup.py", "tests/e2e",
              "tests/test_booking.py", "tests/test_notifications.py", "tests/test_authz_matrix.py",
              "tests/test_followup_stateful.py", "tests/test_package.py", "tests/test_booking_capacity.py",
              "tests/test_group_send.py", "tests/test_notifications_wiring.py"]
GROUP = 6


# Every consumer runs twice on every message the tests deliver, and a second run that changes a
# table fails its test (tests/support.py::OutboxDrain); each process lists the types it checked.
IDEMPOTENCY_LOG = tempfile.mkdtemp(prefix="suizhen-idempotency-")
ENV = {**os.environ, "SUIZHEN_DRAIN_TWICE": "1", "SUIZHEN_IDEMPOTENCY_LOG": IDEMPOTENCY_LOG}


# A process's limit, past any one test's (pytest.ini's timeout): what is stuck outside a test
# (collection, a thread that keeps the interpreter from exiting) is ended with its children.
PROCESS_LIMIT_S = 1800


def run(group: list[str]) -> tuple[str, int, str, float]:
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "pytest", *group, *ROOT_ARGS], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=ENV, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=PROCESS_LIMIT_S)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired as exc:  # a grandchild of its own session holds the pipe
            out = (exc.output or b"").decode(errors="replace")  # what was read so far, undecoded
        out += f"\nended after {PROCESS_LIMIT_S} s: the process did not finish"
        code = -signal.SIGKILL
    return " ".join(group), code, out, time.monotonic() - started


def main() -> int:
    files = sorted(glob.glob("tests/test_*.py"))
    rest = [f for f in files if f not in SLOW_FIRST]
    groups = [[g] for g in SLOW_FIRST if g in files or g == "tests/e2e"]
    groups += [rest[i:i + GROUP] for i in range(0, len(rest), GROUP)]
    workers = int(os.environ.get("TEST_WORKERS", os.cpu_count() or 1))
    totals = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    bad: list[str] = []
    crashed = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for fut in as_completed([pool.submit(run, g) for g in groups]):
            group, code, out, seconds = fut.result()
            tail = out.strip().splitlines()[-1] if out.strip() else ""
            print(f"{group}: {tail} [{seconds:.0f} s]", flush=True)
            counts = {}
            for key in totals:
                m = re.search(rf"(\d+) {key}", tail)
                counts[key] = int(m.group(1)) if m else 0
                totals[key] += counts[key]
            if code not in (0, 5):
                bad.append(group)
                crashed += 0 if counts["failed"] or counts["error"] else 1  # died before pytest's summary
                print(out[-8000:], flush=True)
    missing = unchecked_event_types()
    unchecked = bool(missing) and not ROOT_ARGS  # a partial run (-k …) need not deliver every type
    if unchecked:
        bad.append("idempotency")
        print("subscribed event types no test delivered twice: " + ", ".join(missing), flush=True)
    failed = totals["failed"] + totals["error"] + crashed + unchecked
    if bad:
        print("failed files: " + ", ".join(bad), flush=True)
    print(f"{totals['passed']} passed, {failed} failed, {totals['skipped']} skipped", flush=True)
    return 1 if bad else 0


def unchecked_event_types() -> list[str]:
    """The deployed subscriptions' event types that no test process delivered twice."""
    checked: set[str] = set()
    subscribed: set[str] = set()
    for path in glob.glob(os.path.join(IDEMPOTENCY_LOG, "*.json")):
        with open(path) as f:
            log = json.load(f)
        checked.update(log["checked"])
        subscribed.update(log["subscribed"])
    if not subscribed:
        return ["(no test process recorded any delivery)"]
    print(f"idempotency: {len(subscribed & checked)} of {len(subscribed)} subscribed event types delivered twice",
          flush=True)
    return sorted(subscribed - checked)


if __name__ == "__main__":
    sys.exit(main())
