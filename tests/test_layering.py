"""The shared core imports nothing above itself: no domain, not the list of domains.

Walked statically (every ``import``, ``from … import``, and the module names handed to
``lazy_module`` / ``load`` / ``importlib.import_module``, at module level or inside functions), so a
deferred import cannot hide a circle; and each core module imports on its own in a fresh
interpreter, whatever the order.
"""

import os
import subprocess
import sys

import pytest

from infra.deps import imports_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE = os.path.join(ROOT, "chalicelib", "core")


def core_modules() -> list[str]:
    return sorted(f[:-3] for f in os.listdir(CORE) if f.endswith(".py"))


def test_walker_sees_deferred_and_dynamic_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from chalicelib.domains import DOMAINS\n    lazy_module(f'chalicelib.{d}.service')\n"
                 "    from ..booking import service\n")
    found = imports_of(str(f), "chalicelib.core")
    assert "chalicelib.domains" in found and "chalicelib.{}.service" in found and "chalicelib.booking" in found


@pytest.mark.parametrize("name", core_modules())
def test_core_module_imports_nothing_above_core(name):
    found = imports_of(os.path.join(CORE, f"{name}.py"), "chalicelib.core")
    above = sorted(m for m in found if m.startswith("chalicelib") and not m.startswith("chalicelib.core")
                   and m != "chalicelib")
    assert above == [], f"chalicelib.core.{name} reaches above the core: {above}"


def test_each_core_module_imports_alone_in_a_fresh_interpreter():
    code = ("import subprocess, sys\n"
            f"mods = {core_modules()!r}\n"
            "bad = [m for m in mods if subprocess.run([sys.executable, '-c', 'import chalicelib.core.' + m],"
            " capture_output=True).returncode]\n"
            "print(bad)\nsys.exit(1 if bad else 0)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
