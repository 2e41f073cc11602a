"""``make test``: every test file in its own pytest process (the end-to-end tests share one),
as many at once as the machine has cores.

One process for the whole suite kept moto's in-memory account — and its table streams, which
moto never trims — alive across ~700 tests and grew past 19 GB on a 24 GB machine. A process per
file bounds memory by the largest file; the tests are CPU-bound in-process (moto), so running
one file per core divides the wall time by the cores. The slowest files start first. Ends with
one line ``N passed, N failed, N skipped`` and exits non-zero if any file failed.
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

ROOT_ARGS = sys.argv[1:]
# Started first so that they do not finish last alone (seconds on the 2-core CI machine).
SLOW_FIRST = ["tests/e2e", "tests/test_booking.py", "tests/test_group_send.py", "tests/test_notifications.py",
              "tests/test_followup.py", "tests/test_package.py"]


def run(group: str) -> tuple[str, int, str, float]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", group, *ROOT_ARGS], capture_output=True, text=True)
    return group, proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


def main() -> int:
    files = sorted(glob.glob("tests/test_*.py"))
    groups = [g for g in SLOW_FIRST if g in files or g == "tests/e2e"] + [f for f in files if f not in SLOW_FIRST]
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
    failed = totals["failed"] + totals["error"] + crashed
    if bad:
        print("failed files: " + ", ".join(bad), flush=True)
    print(f"{totals['passed']} passed, {failed} failed, {totals['skipped']} skipped", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
