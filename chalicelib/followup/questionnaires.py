"""Questionnaire answers: validation against the pinned questionnaire, scoring and alert rules
(pure functions; the questionnaire is the stored dict of ``schemas.Questionnaire``)."""

from __future__ import annotations

import math
import operator
import re
from datetime import date

from chalicelib.core.errors import BadRequest
from chalicelib.core.schemas import check_text

OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq,
       "!=": operator.ne}
ATTACHMENT_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
MAX_TEXT = 1000


def _bad(qid: str, why: str) -> BadRequest:
    return BadRequest(f"answer to {qid} {why}", code="invalid_answer")


def _number(qid: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _bad(qid, "must be a number")
    return float(value)


def validate(questionnaire: dict, answers: dict) -> dict:
    """Answers normalised by question type; unknown questions, missing required ones, values
    outside options or range are 400s."""
    questions = {q["qid"]: q for q in questionnaire["questions"]}
    unknown = set(answers) - set(questions)
    if unknown:
        raise BadRequest(f"no such question: {sorted(unknown)[0]}", code="invalid_answer")
    out: dict = {}
    for qid, q in questions.items():
        value = answers.get(qid)
        if value is None:
            if q.get("required", True):
                raise _bad(qid, "is required")
            continue
        kind = q["type"]
        options = {o["value"] for o in q.get("options") or []}
        if kind == "single":
            if not isinstance(value, str) or value not in options:
                raise _bad(qid, "must be one of the options")
        elif kind == "multiple":
            if not isinstance(value, list) or not value or any(not isinstance(v, str) or v not in options for v in value) \
                    or len(set(value)) != len(value):
                raise _bad(qid, "must be a list of distinct options")
        elif kind in ("number", "scale"):
            value = _number(qid, value)
            if not q["min"] <= value <= q["max"]:
                raise _bad(qid, f"must be between {q['min']:g} and {q['max']:g}")
            if kind == "scale":
                if value != int(value):
                    raise _bad(qid, "must be a whole number from 0 to 10")
                value = int(value)
        elif kind == "date":
            try:
                value = date.fromisoformat(value).isoformat() if isinstance(value, str) else None
            except ValueError:
                value = None
            if value is None:
                raise _bad(qid, "must be a date YYYY-MM-DD")
        elif kind == "text":
            if not isinstance(value, str) or len(value) > MAX_TEXT:
                raise _bad(qid, f"must be text of at most {MAX_TEXT} characters")
            try:
                value = check_text(value)
            except ValueError as exc:
                raise _bad(qid, str(exc))
        elif kind == "photo":
            if not isinstance(value, str) or not ATTACHMENT_ID.match(value):
                raise _bad(qid, "must be an attachment id")
        out[qid] = value
    return out


def photos(questionnaire: dict, answers: dict) -> list[str]:
    return [answers[q["qid"]] for q in questionnaire["questions"] if q["type"] == "photo" and q["qid"] in answers]


def score(questionnaire: dict, answers: dict) -> tuple[float | None, str | None]:
    """Sum of option scores (choices) and value × weight (numbers, scales); the band it falls in."""
    scoring = questionnaire.get("scoring")
    if not scoring:
        return None, None
    total = 0.0
    for q in questionnaire["questions"]:
        value = answers.get(q["qid"])
        if value is None:
            continue
        scores = {o["value"]: o.get("score", 0) for o in q.get("options") or []}
        if q["type"] == "single":
            total += scores[value]
        elif q["type"] == "multiple":
            total += sum(scores[v] for v in value)
        elif q["type"] in ("number", "scale") and q.get("weight") is not None:
            total += value * q["weight"]
    total = round(total, 4)
    band = next((b["label"] for b in scoring.get("bands") or [] if b["min"] <= total <= b["max"]), None)
    return total, band


def fired_rules(questionnaire: dict, answers: dict, total: float | None) -> list[dict]:
    """The alert rules an answer set meets (a choice compares its option value or, for a
    numeric rule value, its option score)."""
    questions = {q["qid"]: q for q in questionnaire["questions"]}
    fired = []
    for rule in questionnaire.get("alerts") or []:
        if rule["on"] == "score":
            value = total
        else:
            value = answers.get(rule["qid"])
            q = questions[rule["qid"]]
            if value is not None and q["type"] == "single" and not isinstance(rule["value"], str):
                value = {o["value"]: o.get("score", 0) for o in q["options"]}[value]
        if value is None:
            continue
        target = rule["value"]
        if isinstance(target, str) != isinstance(value, str):
            continue
        if OPS[rule["op"]](value, target):
            fired.append(rule)
    return fired
