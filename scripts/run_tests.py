"""``make test``: every test file in its own pytest process (the end-to-end tests share one).

One process for the whole suite kept moto's in-memory account — and its table streams, which
moto never trims — alive across ~600 tests and grew past 19 GB on a 24 GB machine. A process per
file bounds memory by the largest file. Ends with one line ``N passed, N failed`` and exits
non-zero if any file failed.
"""

from __future__ import annotations

import glob
import re
import subprocess
import sys

ROOT_ARGS = sys.argv[1:]


def main() -> int:
    groups = [["tests/e2e"]] + [[f] for f in sorted(glob.glob("tests/test_*.py"))]
    totals = {"passed": 0, "failed": 0, "error": 0, "skipped": 0}
    bad: list[str] = []
    for group in groups:
        run = subprocess.run([sys.executable, "-m", "pytest", *group, *ROOT_ARGS], capture_output=True, text=True)
        out = run.stdout + run.stderr
        tail = out.strip().splitlines()[-1] if out.strip() else ""
        print(f"{' '.join(group)}: {tail}", flush=True)
        for key in totals:
            m = re.search(rf"(\d+) {key}", tail)
            totals[key] += int(m.group(1)) if m else 0
        if run.returncode not in (0, 5):
            bad.append(" ".join(group))
            print(out[-8000:], flush=True)
    failed = totals["failed"] + totals["error"] + (len(bad) if not (totals["failed"] or totals["error"]) else 0)
    if bad:
        print("failed files: " + ", ".join(bad), flush=True)
    print(f"{totals['passed']} passed, {failed} failed, {totals['skipped']} skipped", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
