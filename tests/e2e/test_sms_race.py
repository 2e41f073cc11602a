"""SMS code guessing under real concurrency: parallel guesses over HTTP against a moto server."""

import collections
import json
import os
import subprocess
import sys

import pytest

from tests.e2e.stack import ROOT

pytestmark = [pytest.mark.e2e]


def test_parallel_wrong_codes_get_five_checks_then_refusals():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SUIZHEN_"))}
    run = subprocess.run([sys.executable, "-m", "tests.e2e.sms_race", "12"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    # 12 guesses at once: five are checked (and are wrong), the other seven are refused unchecked
    assert collections.Counter(result["guesses"]) == {"invalid_code": 5, "too_many_attempts": 7}, result
    assert result["right_code_after"] == "too_many_attempts"
