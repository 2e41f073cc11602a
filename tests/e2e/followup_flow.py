"""An urgent follow-up answer reaching the doctor on the real local stack, driven over HTTP the
way the apps do; shared by ``tests/e2e/test_followup_alert.py`` and ``bench/followup_stack.py``.

A demo doctor and a demo patient log in (one SMS each), the patient binds with the doctor's live
code, the doctor assigns the seeded 出院后体温监测 template (``lib_temperature``: a temperature
questionnaire at T+1 08:00, daily, urgent at ≥ 38.5 ℃) anchored today. Each round moves the
test clock to the next occurrence's due time (``POST /dev/clock``), the patient answers 39.2 ℃
(one urgent and one routine alert), and the doctor polls his open alerts and his in-app inbox
until the urgent alert is in both; the seconds are counted from the moment the answer's 2xx
arrived. The doctor then acknowledges the alerts, so nothing is raised again at the next round.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

TEMPLATE = "lib_temperature"
URGENT_TEMP = 39.2  # ≥ 38.5: fever_high (urgent) and ≥ 37.5: fever (routine)


@dataclass
class Round:
    task_id: str
    urgent: list[str]  # the urgent alerts' ids
    alert_list_s: float  # answer's 2xx → the urgent alert in GET /v1/doctor/followup/alerts
    inbox_s: float  # answer's 2xx → its notification in GET /v1/notifications
    advice: list[str]


class AlertFlow:
    def __init__(self, stack, doctor_phone: str = "13800000002", patient_phone: str = "13900000002"):
        self.stack = stack
        self.doctor, self.patient = stack.login(doctor_phone), stack.login(patient_phone)
        me = self._ok("GET", "/v1/me", token=self.ptok)
        self.profile = next(p for p in me["profiles"] if p["relation"] == "self")["profile_id"]
        code = self._ok("POST", "/v1/doctor/codes/live", token=self.dtok)["code"]
        binding = self._ok("POST", "/v1/bindings", {
            "code": code, "profile_id": self.profile, "visit_date": self.today(), "visit_type": "outpatient",
            "hospital": "上海华山医院", "consent": {"accepted": True, "version": "2026-01"}}, token=self.ptok)
        assert binding["status"] == "active", binding
        plan = self._ok("POST", "/v1/doctor/followup/plans", {"template_id": TEMPLATE, "profile_id": self.profile,
                                                                "anchor_date": self.today()}, token=self.dtok)
        self.plan_id = plan["plan_id"]

    @property
    def dtok(self) -> str:
        return self.doctor["access_token"]

    @property
    def ptok(self) -> str:
        return self.patient["access_token"]

    def _ok(self, method: str, path: str, body=None, token: str | None = None):
        status, out = self.stack.call(method, path, body, token=token)
        assert 200 <= status < 300, (method, path, status, out)
        return out

    def now(self) -> datetime:
        return datetime.fromisoformat(self.stack.clock()["now"])

    def today(self) -> str:
        return self.now().date().isoformat()  # the stack's clock answers in Asia/Shanghai

    def refresh(self) -> None:
        """Access tokens live 15 minutes of the test clock; refresh tokens rotate."""
        for who in ("doctor", "patient"):
            pair = self._ok("POST", "/v1/auth/refresh", {"refresh_token": getattr(self, who)["refresh_token"]})
            getattr(self, who).update(pair)

    def make_due(self) -> str:
        """Move the test clock to the next occurrence of the questionnaire; its task id, now open."""
        tasks = self._ok("GET", f"/v1/followup/plans/{self.plan_id}", token=self.ptok)["tasks"]
        task = next(t for t in sorted(tasks, key=lambda t: t["occurrence"]) if t["status"] in ("scheduled", "open"))
        if task["status"] == "scheduled":
            due = datetime.fromisoformat(task["due_at"])
            if due > self.now():
                self.stack.clock({"to": due.isoformat()})  # answers once what fell due has fired and been delivered
            self.refresh()
            task = self._ok("GET", f"/v1/followup/plans/{self.plan_id}/tasks/{task['task_id']}", token=self.ptok)
        assert task["status"] == "open", task
        return task["task_id"]

    def round(self, timeout: float = 30, poll_s: float = 0.05) -> Round:
        """One urgent answer and the doctor's wait for it; the alerts are acknowledged after."""
        task_id = self.make_due()
        status, out = self.stack.call("POST", f"/v1/followup/plans/{self.plan_id}/tasks/{task_id}/answers",
                                      {"answers": {"temp": URGENT_TEMP}}, token=self.ptok)
        t0 = time.monotonic()
        assert 200 <= status < 300, out
        assert len(out["alerts"]) == 2 and out["advice"], out
        raised = set(out["alerts"])
        urgent: list[str] = []
        seen_list: float | None = None
        seen_inbox: dict[str, float] = {}
        while seen_list is None or not urgent or not all(a in seen_inbox for a in urgent):
            assert time.monotonic() - t0 < timeout, f"no urgent alert for the doctor within {timeout} s"
            if seen_list is None:
                items = self._ok("GET", "/v1/doctor/followup/alerts", token=self.dtok)["items"]
                urgent = [a["alert_id"] for a in items if a["alert_id"] in raised and a["severity"] == "urgent"]
                if urgent:
                    seen_list = time.monotonic() - t0
            inbox = self._ok("GET", "/v1/notifications", token=self.dtok)["items"]
            at = time.monotonic() - t0
            for n in inbox:
                link = n.get("link") or {}
                if link.get("type") == "followup_alert" and link.get("id") in raised:
                    seen_inbox.setdefault(link["id"], at)
            time.sleep(poll_s)
        for alert_id in raised:
            self._ok("POST", f"/v1/doctor/followup/alerts/{alert_id}/acknowledge", {}, token=self.dtok)
        return Round(task_id, urgent, seen_list, max(seen_inbox[a] for a in urgent), out["advice"])
