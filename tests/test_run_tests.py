"""``make test``'s runner ends what is stuck and says where, instead of holding CI to its limit."""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STUCK = "import time\n\n\ndef test_stuck():\n    print('started', flush=True)\n    time.sleep(120)\n"


@pytest.fixture
def runner():
    spec = importlib.util.spec_from_file_location("run_tests", os.path.join(ROOT, "scripts", "run_tests.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_stuck_test_ends_its_process_with_every_thread_s_stack(runner, tmp_path, monkeypatch):
    (tmp_path / "test_stuck.py").write_text(STUCK)
    # the project's pytest.ini (thread method) with a limit of 2 s instead of its 900
    monkeypatch.setattr(runner, "ROOT_ARGS", ["-c", os.path.join(ROOT, "pytest.ini"), "-o", "timeout=2"])
    _, code, out, seconds = runner.run([str(tmp_path / "test_stuck.py")])
    assert code not in (0, 5) and seconds < 60
    assert "Timeout" in out and "test_stuck.py" in out and "time.sleep(120)" in out  # where it was stuck


def test_a_stuck_process_is_ended_with_what_it_printed(runner, tmp_path, monkeypatch):
    (tmp_path / "test_stuck.py").write_text(STUCK)
    monkeypatch.setattr(runner, "ROOT_ARGS", ["-c", os.path.join(ROOT, "pytest.ini"), "-o", "timeout=0", "-s"])
    monkeypatch.setattr(runner, "PROCESS_LIMIT_S", 15)  # past pytest's own start
    _, code, out, seconds = runner.run([str(tmp_path / "test_stuck.py")])
    assert code == -9 and seconds < 60
    assert "started" in out and out.rstrip().endswith("ended after 15 s: the process did not finish")
