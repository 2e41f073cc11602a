"""Run every scenario module in ``bench/`` and print the report; exit 1 if a budget is broken."""

import importlib
import os
import pkgutil
import sys
import warnings

os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
os.environ.setdefault("SUIZHEN_SMS_PER_IP_PER_HOUR", "100000")  # the bench signs many users up from one address

warnings.filterwarnings("ignore", "No application metrics to publish")

from bench.harness import Env, cold_import, measure, report  # noqa: E402


def main() -> int:
    bare_ms, app_ms = cold_import()
    env = Env()
    results = []
    try:
        import bench

        for mod in sorted(m.name for m in pkgutil.iter_modules(bench.__path__)):
            if mod in ("harness", "__main__"):
                continue
            for sc in getattr(importlib.import_module(f"bench.{mod}"), "SCENARIOS", []):
                results.append(measure(env, sc))
    finally:
        env.close()
    return 0 if report(results, bare_ms, app_ms) else 1


if __name__ == "__main__":
    sys.exit(main())
