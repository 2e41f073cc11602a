"""``python -m infra.subscriptions``: the event → unit table (README, "Events and queues"),
generated from the consumer registry so the README cannot drift (``tests/test_package.py``)."""

from __future__ import annotations

import os


def table() -> str:
    from chalicelib import events, topology

    units = topology.units()
    lines = ["| event type | consuming units (their queue and consumer function) |", "|---|---|"]
    for type_, us in events.subscriptions(deployed=True).items():
        lines.append(f"| `{type_}` | " + ", ".join(f"{u} ({', '.join(units.get(u, (u,)))})" if units.get(u, (u,)) != (u,)
                                                  else u for u in us) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("SUIZHEN_TABLE_PREFIX", "suizhen-dev-")
    print(table())
