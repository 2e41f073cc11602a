"""Run every scenario module in ``bench/``, print the report, compare it with the last run and
write the figures to ``bench/out/`` (JSON); exit 1 if a budget is broken.

``python -m bench [--no-cold] [name-substring ...]`` runs only the scenarios whose name contains
one of them (``--no-cold`` skips the cold-import pairs, keeping the last run's figure).
"""

import importlib
import os
import pkgutil
import sys
import warnings

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("SUIZHEN_SMS_PER_IP_PER_HOUR", "100000")  # the bench signs many users up from one address

warnings.filterwarnings("ignore", "No application metrics to publish")

from bench.harness import Env, cold_import, load_last, measure, report, save  # noqa: E402


def scenarios():
    import bench

    for mod in sorted(m.name for m in pkgutil.iter_modules(bench.__path__)):
        if mod in ("harness", "__main__"):
            continue
        yield from getattr(importlib.import_module(f"bench.{mod}"), "SCENARIOS", [])


def main(argv: list[str]) -> int:
    last = load_last()
    skip_cold = "--no-cold" in argv
    argv = [a for a in argv if a != "--no-cold"]
    cold = (last or {}).get("cold_import") if skip_cold else None
    cold = cold or cold_import()
    env = Env()
    results = []
    try:
        for sc in scenarios():
            if argv and not any(a in sc.name for a in argv):
                continue
            results.append(measure(env, sc))
    finally:
        env.close()
    ok = report(results, cold, last)
    print(f"figures written to {os.path.relpath(save(results, cold, last))} and bench/out/last.json")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
