"""``make bench`` asserts the DynamoDB call budgets the README promises — the same figures, not looser ones."""

import os
import re

import pytest

README = open(os.path.join(os.path.dirname(__file__), "..", "README.md"), encoding="utf-8").read()

# README phrase (in the "What each domain does" table) → the bench scenario that measures it
PROMISES = {
    r"authorizer (\d+)": "authorizer (token verification)",
    r"`GET /v1/me` (\d+)": "GET /v1/me",
    r"directory (\d+) Query": "GET /v1/doctors",
    r"scan (\d+) \(1 TransactWriteItems\)": "POST /v1/bindings (scan live code → active)",
    r"patient list (\d+) Query": "GET /v1/doctor/patients",
    r"create order (\d+)": "payments.create_order (service)",
    r"valid callback (\d+)": "POST /v1/payments/wechat/notify (valid)",
    r"send (\d+)": "POST /v1/conversations/{id}/messages (text)",
    r"mark read (\d+)": "POST /v1/conversations/{id}/read (doctor, after a new message)",
    r"list messages (\d+) Query": "GET /v1/conversations/{id}/messages",
    r"inbox (\d+) Query": "GET /v1/conversations (doctor inbox)",
    r"book (\d+)": "POST /v1/booking/sessions/{id}/book (hold + order + outbox)",
    r"open sessions (\d+) Query": "GET /v1/doctors/{id}/booking/sessions",
    r"answer (\d+) \(2 GetItem": "POST /v1/followup/plans/{id}/tasks/{id}/answers (2 alerts)",
}


@pytest.mark.parametrize("phrase", sorted(PROMISES))
def test_bench_budget_equals_the_readme(phrase):
    from bench.__main__ import scenarios

    m = re.search(phrase, README)
    assert m, f"README no longer says {phrase!r}"
    promised = int(m.group(1))
    sc = next(s for s in scenarios() if s.name == PROMISES[phrase])
    total = sc.budget if isinstance(sc.budget, int) else sc.budget["total"]
    assert total == promised, f"{sc.name}: bench allows {total} calls, README promises {promised}"
