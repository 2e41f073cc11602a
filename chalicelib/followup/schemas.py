"""Follow-up (随访) request/response schemas: templates and their items, questionnaires, plans,
tasks, alerts, adherence, research consent and exports."""

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, JsonValue, model_validator

from chalicelib.core.schemas import DateStr, ListQuery, Name, Ok, Request, Response, Text, Timestamp, Token, check_text  # noqa: F401  (Ok: routes)

Slug = Field(pattern=r"^[a-z0-9_]{1,32}$")
Kind = Literal["reminder", "questionnaire", "booking", "article", "medication"]
QType = Literal["single", "multiple", "number", "scale", "date", "text", "photo"]
Severity = Literal["urgent", "routine"]
Op = Literal[">=", ">", "<=", "<", "==", "!="]
MAX_OCCURRENCES = 400

# One answer as JSON carries it: a choice value, several, a number or 0–10, a date or text, a photo id.
AnswerValue = int | float | Text | list[int | float | Text] | None


def _question_id(v: str) -> str:
    if not (0 < len(v) <= 64 and v.isascii() and v.isprintable() and " " not in v):
        raise ValueError("question ids are printable ASCII without spaces")
    return v


QuestionId = Annotated[str, AfterValidator(_question_id)]


class Option(Request):
    value: str = Field(min_length=1, max_length=32)
    label: str = Field(min_length=1, max_length=200)
    score: float = 0


class Question(Request):
    qid: str = Slug
    type: QType
    text: str = Field(min_length=1, max_length=500)
    required: bool = True
    options: list[Option] | None = Field(default=None, max_length=20)
    unit: str | None = Field(default=None, max_length=16)
    min: float | None = None
    max: float | None = None
    weight: float | None = Field(default=None, description="number/scale answers add value × weight to the score")

    @model_validator(mode="after")
    def _shape(self):
        if self.type in ("single", "multiple"):
            if not self.options:
                raise ValueError(f"question {self.qid}: choices need options")
            if len({o.value for o in self.options}) != len(self.options):
                raise ValueError(f"question {self.qid}: option values must be unique")
        elif self.options:
            raise ValueError(f"question {self.qid}: only choices have options")
        if self.type == "number":
            if self.min is None or self.max is None or self.min >= self.max:
                raise ValueError(f"question {self.qid}: a number needs min < max")
        if self.type == "scale":
            self.min, self.max = 0, 10
        return self


class Band(Request):
    min: float
    max: float
    label: str = Field(min_length=1, max_length=64)


class Scoring(Request):
    method: Literal["sum"] = "sum"
    bands: list[Band] = Field(default_factory=list, max_length=10)


class AlertRule(Request):
    rule_id: str = Slug
    on: Literal["question", "score"]
    qid: str | None = None
    op: Op
    value: float | str
    severity: Severity
    text: str = Field(min_length=1, max_length=200, description="what the doctor sees, e.g. 疼痛评分 ≥ 7")
    advice: str | None = Field(default=None, max_length=500, description="safety advice shown to the patient")

    @model_validator(mode="after")
    def _target(self):
        if (self.on == "question") != (self.qid is not None):
            raise ValueError(f"alert {self.rule_id}: a question rule names qid, a score rule does not")
        if self.severity == "urgent" and not self.advice:
            raise ValueError(f"alert {self.rule_id}: an urgent rule needs advice for the patient")
        return self


class Questionnaire(Request):
    title: str = Field(min_length=1, max_length=100)
    questions: list[Question] = Field(min_length=1, max_length=50)
    scoring: Scoring | None = None
    alerts: list[AlertRule] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _refs(self):
        qids = {q.qid for q in self.questions}
        if len(qids) != len(self.questions):
            raise ValueError("question ids must be unique")
        types = {q.qid: q.type for q in self.questions}
        for r in self.alerts:
            if r.on == "question":
                if r.qid not in qids:
                    raise ValueError(f"alert {r.rule_id}: no question {r.qid}")
                if types[r.qid] in ("text", "photo", "date", "multiple"):
                    raise ValueError(f"alert {r.rule_id}: rules apply to choices, numbers and scales")
            elif self.scoring is None:
                raise ValueError(f"alert {r.rule_id}: a score rule needs scoring")
        if len({r.rule_id for r in self.alerts}) != len(self.alerts):
            raise ValueError("alert rule ids must be unique")
        return self


class Article(Request):
    """The plan's copy of an article; ``article_id`` links the doctor's published article (the
    brand domain's ``ArticleIn`` has these same fields), which the task opens at ``path``."""

    title: str = Field(min_length=1, max_length=100)
    body: str = Field(min_length=1, max_length=20000)
    images: list[str] = Field(default_factory=list, max_length=20)
    article_id: str | None = Field(default=None, pattern=r"^[0-9A-HJKMNP-TV-Z]{26}$",
                                   description="a published article (GET /v1/articles/{article_id})")


class Medication(Request):
    drug: str = Field(min_length=1, max_length=100)
    dose: str = Field(min_length=1, max_length=100)
    times: list[dt.time] = Field(min_length=1, max_length=6, description="Asia/Shanghai times of day")
    days: int = Field(ge=1, le=365)


class Repeat(Request):
    every_days: int = Field(ge=1, le=365)
    count: int | None = Field(default=None, ge=1, le=MAX_OCCURRENCES)
    until_offset_days: int | None = Field(default=None, ge=0, le=3650)

    @model_validator(mode="after")
    def _bounded(self):
        if (self.count is None) == (self.until_offset_days is None):
            raise ValueError("a repeat ends after count times or at until_offset_days (one of them)")
        return self


class Item(Request):
    item_id: str = Slug
    kind: Kind
    title: str = Field(min_length=1, max_length=100)
    offset_days: int = Field(ge=0, le=3650, description="days after the anchor date (T+n)")
    time: dt.time = Field(default=dt.time(9, 0), description="Asia/Shanghai time of day it is due")
    repeat: Repeat | None = None
    window_hours: int | None = Field(default=None, ge=1, le=24 * 30,
                                     description="how long the patient has to do it (default setting, 72 h)")
    text: str | None = Field(default=None, max_length=2000)
    questionnaire: Questionnaire | None = None
    article: Article | None = None
    medication: Medication | None = None

    @model_validator(mode="after")
    def _payload(self):
        need = {"questionnaire": self.questionnaire, "article": self.article, "medication": self.medication}
        for kind, value in need.items():
            if (self.kind == kind) != (value is not None):
                raise ValueError(f"item {self.item_id}: {kind} is given exactly for {kind} items")
        if self.kind in ("reminder",) and not self.text:
            raise ValueError(f"item {self.item_id}: a reminder needs text")
        if self.kind == "medication" and self.repeat is not None:
            raise ValueError(f"item {self.item_id}: a medication repeats by its times and days")
        if self.repeat and self.repeat.until_offset_days is not None and self.repeat.until_offset_days < self.offset_days:
            raise ValueError(f"item {self.item_id}: until_offset_days is before offset_days")
        return self


class TemplateIn(Request):
    name: Name = Field(min_length=1, max_length=100)
    anchor_type: Literal["visit", "discharge", "surgery", "first_dose"]
    description: Text | None = Field(default=None, max_length=2000)
    share_with_department: bool = False
    items: list[Item] = Field(min_length=1, max_length=20)

    @model_validator(mode="after")
    def _unique(self):
        if len({i.item_id for i in self.items}) != len(self.items):
            raise ValueError("item ids must be unique")
        return self


class TemplatesQuery(ListQuery):
    scope: Literal["mine", "department", "library"] = "mine"


class TemplateSummary(Response):
    template_id: str
    version: int
    name: str
    anchor_type: str
    owner_id: str
    shared: bool
    item_count: int
    updated_at: Timestamp


class TemplateOut(TemplateSummary):
    description: str | None
    items: list[dict[str, JsonValue]] = Field(description="the template's items as written (kind, offsets, content)")


class VersionQuery(Request):
    version: int | None = Field(default=None, ge=1)


# --- plans and tasks -------------------------------------------------------------------------

class PlanCreate(Request):
    template_id: Token = Field(min_length=1, max_length=64)
    version: int | None = Field(default=None, ge=1, description="default: the template's latest version")
    profile_id: Token = Field(min_length=1, max_length=64)
    anchor_date: dt.date = Field(description="Asia/Shanghai date of the visit, discharge, surgery or first dose")


class PlanUpdate(Request):
    anchor_date: dt.date


class PlansQuery(ListQuery):
    profile_id: Token | None = None


class TaskOut(Response):
    plan_id: str
    task_id: str
    item_id: str
    occurrence: int
    kind: str
    title: str
    status: str
    due_at: Timestamp
    window_ends_at: Timestamp
    completed_at: Timestamp | None
    late: bool
    score: float | None = None
    band: str | None = None
    answers: dict[str, AnswerValue] | None = None
    advice: list[str] = Field(default_factory=list)
    content: dict[str, JsonValue] | None = Field(default=None, description="what to show: text, questionnaire, article, "
                                                                     "medication or the 加号 sessions link")


class PlanOut(Response):
    plan_id: str
    doctor_id: str
    profile_id: str
    patient_name: str
    template_id: str
    template_version: int
    name: str
    anchor_type: str
    anchor_date: DateStr
    status: str
    stop_reason: str | None
    created_at: Timestamp


class PlanDetail(PlanOut):
    items: list[dict[str, JsonValue]] = Field(description="the template's items as written (kind, offsets, content)")
    tasks: list[TaskOut]


class AnswerIn(Request):
    answers: dict[QuestionId, AnswerValue] = Field(description="question id → answer (choice value, list of values, number, "
                                                "0–10, YYYY-MM-DD, text, or a photo's attachment_id)",
                                    max_length=100)


class AnswerOut(Response):
    task: TaskOut
    alerts: list[str] = Field(description="ids of the alerts the answer raised")
    advice: list[str] = Field(description="safety advice for urgent findings (e.g. go to the emergency department)")


# --- alerts and views ------------------------------------------------------------------------

class AlertOut(Response):
    alert_id: str
    severity: str
    status: str
    plan_id: str
    task_id: str
    profile_id: str
    patient_name: str
    rule_id: str
    rule_text: str
    raised_at: Timestamp
    raise_count: int
    acknowledged_at: Timestamp | None


class AckIn(Request):
    note: Text | None = Field(default=None, max_length=500)


class TrendPoint(Response):
    day: int = Field(description="days after the plan's anchor")
    at: Timestamp
    value: float


class Trend(Response):
    plan_id: str
    item_id: str
    key: str = Field(description="question id, or 'score'")
    label: str
    unit: str | None
    points: list[TrendPoint]


class PatientFollowup(Response):
    profile_id: str
    plans: list[PlanDetail]
    trends: list[Trend]
    open_alerts: list[AlertOut]


class ItemAdherence(Response):
    item_id: str
    title: str
    completed: int
    missed: int
    pending: int
    median_delay_hours: float | None


class Adherence(Response):
    template_id: str
    plans: int
    items: list[ItemAdherence]
    answered: int
    alerts: int
    alert_rate: float | None = Field(description="alerts per answered questionnaire")


# --- research --------------------------------------------------------------------------------

class ConsentText(Response):
    version: str
    text: str


class ConsentIn(Request):
    version: Token = Field(min_length=1, max_length=16)
    accepted: Literal[True]


class ResearchConsentOut(Response):
    profile_id: str
    status: str
    version: str | None
    at: Timestamp | None


class ExportOut(Response):
    export_id: str
    template_id: str
    status: str
    plans_seen: int
    patients: int
    rows: int
    created_at: Timestamp
    finished_at: Timestamp | None
    download_url: str | None = Field(default=None, description="short-lived presigned URL once ready")
    expires_in: int | None = None
