"""An urgent follow-up answer reaches the doctor on the real local stack: his open alerts and his
in-app inbox (through the outbox stream, the relay, SNS and the notifications queue), well within
30 s — a functional check of the path ``bench/followup_stack.py`` times, not a timing test."""

import pytest

from tests.e2e.followup_flow import AlertFlow

pytestmark = [pytest.mark.e2e, pytest.mark.enable_socket]


@pytest.fixture(scope="module", autouse=True)
def back_to_real_time(stack):
    """The test clock only moves forward: start the stack over when this module is done. An hour
    ahead first: a new SMS rate-limit window for the demo accounts' logins, whatever ran before."""
    stack.clock({"advance": "PT1H"})
    yield
    stack.clock({"reset": True})


def test_urgent_answer_reaches_the_doctors_alerts_and_inbox(stack):
    flow = AlertFlow(stack)
    r = flow.round(timeout=30)
    assert len(r.urgent) == 1 and r.alert_list_s < 30 and r.inbox_s < 30, r
    assert any("急诊" in a or "发热门诊" in a for a in r.advice), r.advice  # the patient is told where to go
    inbox = stack.call("GET", "/v1/notifications", token=flow.dtok)[1]["items"]
    urgent = next(n for n in inbox if (n.get("link") or {}).get("id") == r.urgent[0])
    assert urgent["link"]["type"] == "followup_alert" and urgent["category"] == "followup", urgent
    alerts = stack.call("GET", "/v1/doctor/followup/alerts", token=flow.dtok)[1]["items"]
    assert r.urgent[0] not in [a["alert_id"] for a in alerts]  # acknowledged by the round: no longer open
