"""Questionnaire scoring, bands and every alert rule of the seeded library (pure functions),
plus the comparison operators and scoring methods on a custom questionnaire."""

import pytest

from chalicelib.core.errors import BadRequest
from chalicelib.followup import questionnaires as qn
from chalicelib.followup import timing
from chalicelib.followup.library import LIBRARY, PAIN, PHQ9, RECOVERY, TEMPERATURE, WOUND
from chalicelib.followup.schemas import Questionnaire, TemplateIn


def _phq(values: list[int]) -> dict:
    return {f"q{i}": str(v) for i, v in enumerate(values, start=1)}


def _rules(q, answers):
    q = Questionnaire.model_validate(q).model_dump(mode="json")  # as stored: validated, defaults filled in
    a = qn.validate(q, answers)
    total, band = qn.score(q, a)
    return total, band, {r["rule_id"] for r in qn.fired_rules(q, a, total)}


def test_library_templates_are_valid():
    for raw in LIBRARY.values():
        TemplateIn.model_validate(raw)


@pytest.mark.parametrize("total,band", [(0, "无或极轻微"), (4, "无或极轻微"), (5, "轻度"), (9, "轻度"), (10, "中度"),
                                        (14, "中度"), (15, "中重度"), (19, "中重度"), (20, "重度"), (27, "重度")])
def test_phq9_score_and_standard_bands(total, band):
    values = [3] * (total // 3) + [total % 3] + [0] * 9
    values = values[:8] + [0]  # item 9 stays 0 here
    if sum(values) != total:  # 27 needs item 9
        values = [3] * 9
    score, got, _ = _rules(PHQ9, _phq(values))
    assert (score, got) == (total, band)


def test_phq9_alert_rules():
    assert _rules(PHQ9, _phq([0] * 8 + [1]))[2] == {"self_harm"}  # item 9 > 0: urgent whatever the total
    assert _rules(PHQ9, _phq([2] * 8 + [0]))[2] == {"mod_severe"}  # 16
    assert _rules(PHQ9, _phq([3] * 7 + [0, 0]))[2] == {"severe", "mod_severe"}  # 21
    assert _rules(PHQ9, _phq([1] * 8 + [0]))[2] == set()  # 8: mild, no alert
    urgent = {r["rule_id"] for r in PHQ9["alerts"] if r["severity"] == "urgent"}
    assert urgent == {"self_harm", "severe"}


@pytest.mark.parametrize("pain,fired", [(0, set()), (6, set()), (7, {"pain_high"}), (8, {"pain_high"}),
                                        (9, {"pain_high", "pain_severe"}), (10, {"pain_high", "pain_severe"})])
def test_pain_nrs_rules(pain, fired):
    assert _rules(PAIN, {"pain": pain})[2] == fired


@pytest.mark.parametrize("temp,fired", [(36.5, set()), (37.4, set()), (37.5, {"fever"}), (38.4, {"fever"}),
                                        (38.5, {"fever", "fever_high"}), (40.1, {"fever", "fever_high"})])
def test_temperature_rules(temp, fired):
    assert _rules(TEMPERATURE, {"temp": temp})[2] == fired


def test_wound_and_recovery_rules():
    base = {"wound": "normal", "pain": 2, "temp": 36.8}
    assert _rules(WOUND, base)[2] == set()
    assert _rules(WOUND, {**base, "wound": "discharge"})[2] == {"discharge"}
    assert _rules(WOUND, {**base, "temp": 38.6, "pain": 7})[2] == {"fever_high", "pain_high"}
    assert _rules(RECOVERY, {"activity": "unable", "pain": 1})[2] == {"unable"}
    assert _rules(RECOVERY, {"activity": "limited", "pain": 1, "back_to_work": "2026-12-20"})[2] == set()


CUSTOM = Questionnaire.model_validate({
    "title": "t",
    "questions": [
        {"qid": "sym", "type": "multiple", "text": "症状", "options": [
            {"value": "a", "label": "A", "score": 1}, {"value": "b", "label": "B", "score": 2},
            {"value": "c", "label": "C", "score": 4}]},
        {"qid": "sbp", "type": "number", "text": "收缩压", "unit": "mmHg", "min": 60, "max": 260, "weight": 0.1},
        {"qid": "ok", "type": "single", "text": "好吗", "options": [
            {"value": "yes", "label": "好"}, {"value": "no", "label": "不好"}]},
        {"qid": "when", "type": "date", "text": "哪天", "required": False},
    ],
    "scoring": {"bands": [{"min": 0, "max": 15, "label": "low"}, {"min": 15.1, "max": 100, "label": "high"}]},
    "alerts": [
        {"rule_id": "low_bp", "on": "question", "qid": "sbp", "op": "<", "value": 90, "severity": "urgent",
         "text": "低血压", "advice": "急诊"},
        {"rule_id": "lowish", "on": "question", "qid": "sbp", "op": "<=", "value": 100, "severity": "routine", "text": "x"},
        {"rule_id": "not_ok", "on": "question", "qid": "ok", "op": "!=", "value": "yes", "severity": "routine",
         "text": "x"},
        {"rule_id": "high_score", "on": "score", "op": ">", "value": 20, "severity": "routine", "text": "x"},
        {"rule_id": "exact", "on": "score", "op": "==", "value": 13, "severity": "routine", "text": "x"},
    ],
}).model_dump(mode="json")


def test_operators_multiple_choice_and_weights():
    total, band, fired = _rules(CUSTOM, {"sym": ["a", "c"], "sbp": 80, "ok": "yes"})
    assert total == 13 and band == "low" and fired == {"low_bp", "lowish", "exact"}
    total, band, fired = _rules(CUSTOM, {"sym": ["a", "b", "c"], "sbp": 150, "ok": "no", "when": "2026-12-01"})
    assert total == 22 and band == "high" and fired == {"not_ok", "high_score"}
    assert _rules(CUSTOM, {"sym": ["b"], "sbp": 100, "ok": "yes"})[2] == {"lowish"}


@pytest.mark.parametrize("answers", [
    {"sym": [], "sbp": 100, "ok": "yes"}, {"sym": ["a", "a"], "sbp": 100, "ok": "yes"},
    {"sym": "a", "sbp": 100, "ok": "yes"}, {"sym": ["a"], "sbp": 100, "ok": "yes", "when": "2026-13-01"},
    {"sym": ["a"], "sbp": float("nan"), "ok": "yes"},
])
def test_invalid_answers(answers):
    with pytest.raises(BadRequest):
        qn.validate(CUSTOM, answers)


def test_timing_windows_stop_at_the_next_occurrence():
    from datetime import UTC, date, datetime

    daily = {"kind": "questionnaire", "offset_days": 1, "time": "08:00:00", "repeat": {"every_days": 1, "count": 3}}
    anchor = date(2026, 11, 20)
    assert timing.due_of(daily, anchor, 0) == datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    assert timing.due_of(daily, anchor, 3) is None
    end, remind = timing.window_of(daily, anchor, 0, 72)
    assert end == datetime(2026, 11, 22, 0, 0, tzinfo=UTC) and remind == datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
    med = {"kind": "medication", "offset_days": 0, "medication": {"times": ["20:00:00", "08:00:00"], "days": 2}}
    dues = [timing.due_of(med, anchor, n) for n in range(5)]
    assert [d.hour for d in dues[:4]] == [0, 12, 0, 12] and dues[4] is None
