"""Research use of follow-up answers: a separate, versioned, withdrawable research consent,
and the de-identified CSV export of one template's answers.

An export is long work: the request answers 202 with an export resource and the work runs as
steps through this domain's events (one page of plans per step, each step a CSV part in S3),
then the parts are joined into one object fetched by a short-lived presigned URL. Only patients
whose research consent stands when their page is exported are included; every included patient
gets an audit record. Rows carry a pseudonym that is new for every export, days relative to
the anchor instead of dates, and never names, phones, ID numbers, free text or photos.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import secrets
from datetime import date

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import audit, clock
from chalicelib.core.aws import client
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.outbox import consumer, emit, transaction
from chalicelib.core.pagination import query_page

from . import templates
from .models import Export, Plan, ResearchConsent, Task
from .schemas import ConsentText, ExportOut, ResearchConsentOut

CONSENT_VERSION = "2026-01"
CONSENT_TEXT = ("我同意医生将我的随访问卷答案在去除姓名、电话、身份证号、照片和自由文字后，以假名编号和相对天数的形式"
                "用于临床研究。我可以随时撤回同意；撤回后，之后的研究导出不再包含我的数据。")
COLUMNS = ["pid", "plan", "item_id", "occurrence", "due_day", "status", "done_day", "key", "value"]
NO_EXPORT = ("text", "photo")  # free text and photos may identify a patient
MULTIPART_MIN = 5 * 1024 * 1024


# --- consent ---------------------------------------------------------------------------------

def consent_text() -> ConsentText:
    return ConsentText(version=CONSENT_VERSION, text=CONSENT_TEXT)


def _own_profile(caller, profile_id: str) -> None:
    from chalicelib.accounts import service as accounts

    accounts.get_profile(caller.account_id, profile_id)  # 404 unless the caller manages it


def _current(profile_id: str) -> ResearchConsent | None:
    try:
        return ResearchConsent.get(profile_id, "current", consistent_read=True)
    except ResearchConsent.DoesNotExist:
        return None


def _consent_out(profile_id: str, c: ResearchConsent | None) -> ResearchConsentOut:
    if c is None:
        return ResearchConsentOut(profile_id=profile_id, status="none", version=None, at=None)
    return ResearchConsentOut(profile_id=profile_id, status=c.status, version=c.version, at=clock.iso(c.at))


def get_consent(caller, profile_id: str) -> ResearchConsentOut:
    _own_profile(caller, profile_id)
    return _consent_out(profile_id, _current(profile_id))


def _record(caller, profile_id: str, status: str, version: str) -> ResearchConsentOut:
    now = clock.now()
    current = ResearchConsent(profile_id, "current", account_id=caller.account_id, status=status, version=version, at=now)
    with transaction() as tx:
        tx.save(current)
        tx.save(ResearchConsent(profile_id, f"h#{new_id()}", account_id=caller.account_id, status=status,
                                version=version, at=now))
    return _consent_out(profile_id, current)


def grant(caller, profile_id: str, version: str) -> ResearchConsentOut:
    _own_profile(caller, profile_id)
    if version != CONSENT_VERSION:
        raise Unprocessable(f"the current research consent is version {CONSENT_VERSION}", code="consent_version")
    return _record(caller, profile_id, "granted", version)


def withdraw(caller, profile_id: str) -> ResearchConsentOut:
    _own_profile(caller, profile_id)
    c = _current(profile_id)
    if c is None or c.status != "granted":
        raise Conflict("there is no research consent to withdraw", code="invalid_state")
    return _record(caller, profile_id, "withdrawn", c.version)


# --- export ----------------------------------------------------------------------------------

def _bucket() -> str:
    return get_settings().attachments_bucket


def _part_key(export_id: str, n: int) -> str:
    return f"exports/{export_id}/part-{n:05d}.csv"


def export_out(e: Export) -> ExportOut:
    url, ttl = None, None
    if e.status == "ready":
        ttl = get_settings().followup_export_url_ttl_s
        url = client("s3").generate_presigned_url("get_object", Params={"Bucket": _bucket(), "Key": e.key},
                                                  ExpiresIn=ttl)
    return ExportOut(export_id=e.export_id, template_id=e.template_id, status=e.status, plans_seen=int(e.plans_seen),
                     patients=int(e.patients), rows=int(e.rows), created_at=clock.iso(e.created_at),
                     finished_at=clock.iso(e.finished_at), download_url=url, expires_in=ttl)


def request_export(caller, template_id: str) -> ExportOut:
    templates.readable(caller, template_id)
    e = Export(new_id(), doctor_id=caller.account_id, template_id=template_id, status="queued",
               salt=secrets.token_hex(16), created_at=clock.now())
    with transaction() as tx:
        tx.save(e, condition=Export.export_id.does_not_exist())
        emit(tx, "followup.export_step", {"export_id": e.export_id, "part": 0, "cursor": None})
    return export_out(e)


def get_export(caller, export_id: str) -> ExportOut:
    try:
        e = Export.get(export_id, consistent_read=True)
    except Export.DoesNotExist:
        raise NotFound("export not found")
    if e.doctor_id != caller.account_id:
        raise NotFound("export not found")
    return export_out(e)


def _pseudonym(salt: str, prefix: str, value: str) -> str:
    return prefix + hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()[:12]


def _day(anchor: date, dt) -> int | None:
    return None if dt is None else (dt.astimezone(clock.SHANGHAI).date() - anchor).days


def rows_for(salt: str, plan: Plan, tasks: list[Task]) -> list[list]:
    anchor = date.fromisoformat(plan.anchor_date)
    pid, pl = _pseudonym(salt, "P", plan.profile_id), _pseudonym(salt, "L", plan.plan_id)
    items = {i["item_id"]: i for i in plan.items}
    rows = []
    for t in tasks:
        if t.status in ("scheduled", "cancelled"):
            continue
        base = [pid, pl, t.item_id, int(t.occurrence), _day(anchor, t.due_at), t.status, _day(anchor, t.completed_at)]
        q = items[t.item_id].get("questionnaire")
        if not (q and t.answers):
            rows.append(base + ["", ""])
            continue
        for question in q["questions"]:
            value = t.answers.get(question["qid"])
            if value is None or question["type"] in NO_EXPORT:
                continue
            if question["type"] == "multiple":
                value = "|".join(value)
            elif question["type"] == "date":
                value = (date.fromisoformat(value) - anchor).days
            rows.append(base + [question["qid"], value])
        if t.score is not None:
            rows.append(base + ["score", t.score])
        if t.band is not None:
            rows.append(base + ["band", t.band])
    return rows


def _consenting(profile_ids: set[str]) -> set[str]:
    if not profile_ids:
        return set()
    found = ResearchConsent.batch_get([(p, "current") for p in profile_ids])
    return {c.profile_id for c in found if c.status == "granted"}


@consumer("followup.export_step")
def _on_step(event_id: str, payload: dict) -> None:
    """One page of the doctor's plans of the template → one CSV part (idempotent by part number)."""
    e = Export.get(payload["export_id"], consistent_read=True)
    n = int(payload["part"])
    if e.status not in ("queued", "running") or int(e.parts) != n:
        return
    page = query_page(Plan, Plan.by_doctor_template.query, f"{e.doctor_id}#{e.template_id}",
                      limit=get_settings().followup_export_page, cursor=payload.get("cursor"))
    consenting = _consenting({p.profile_id for p in page.items})
    rows, included = [], []
    for plan in page.items:
        if plan.profile_id in consenting:
            rows += rows_for(e.salt, plan, list(Task.query(plan.plan_id)))
            included.append(plan)
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    client("s3").put_object(Bucket=_bucket(), Key=_part_key(e.export_id, n), Body=buf.getvalue().encode(),
                            ContentType="text/csv")
    if included:
        actor = type("Actor", (), {"account_id": e.doctor_id, "role": "doctor"})
        with audit.AuditRecord.batch_write() as batch:
            for plan in included:
                batch.save(audit.audit_record(caller=actor, subject_profile_id=plan.profile_id, action="export",
                                              object_type="followup_export", object_id=e.export_id,
                                              request_id=event_id))
    try:
        with transaction() as tx:
            tx.update(e, actions=[Export.parts.set(n + 1), Export.status.set("running"),
                                  Export.plans_seen.add(len(page.items)), Export.patients.add(len(included)),
                                  Export.rows.add(len(rows))], condition=Export.parts == n)
            if page.next_cursor:
                emit(tx, "followup.export_step", {"export_id": e.export_id, "part": n + 1, "cursor": page.next_cursor})
            else:
                emit(tx, "followup.export_finish", {"export_id": e.export_id})
    except TransactWriteError:
        pass  # an earlier delivery of this step already moved on


@consumer("followup.export_finish")
def _on_finish(event_id: str, payload: dict) -> None:
    """Join the parts (header once) into one object; multipart when it is large."""
    e = Export.get(payload["export_id"], consistent_read=True)
    if e.status != "running":
        return
    s3 = client("s3")
    key = f"exports/{e.export_id}.csv"
    header = io.StringIO()
    csv.writer(header).writerow(COLUMNS)
    buf = bytearray(header.getvalue().encode())
    upload_id: str | None = None
    parts: list[dict] = []
    for n in range(int(e.parts)):
        buf += s3.get_object(Bucket=_bucket(), Key=_part_key(e.export_id, n))["Body"].read()
        if len(buf) >= MULTIPART_MIN:
            if upload_id is None:
                upload_id = s3.create_multipart_upload(Bucket=_bucket(), Key=key, ContentType="text/csv")["UploadId"]
            etag = s3.upload_part(Bucket=_bucket(), Key=key, UploadId=upload_id, PartNumber=len(parts) + 1,
                                  Body=bytes(buf))["ETag"]
            parts.append({"ETag": etag, "PartNumber": len(parts) + 1})
            buf = bytearray()
    if upload_id is None:
        s3.put_object(Bucket=_bucket(), Key=key, Body=bytes(buf), ContentType="text/csv")
    else:
        if buf:
            etag = s3.upload_part(Bucket=_bucket(), Key=key, UploadId=upload_id, PartNumber=len(parts) + 1,
                                  Body=bytes(buf))["ETag"]
            parts.append({"ETag": etag, "PartNumber": len(parts) + 1})
        s3.complete_multipart_upload(Bucket=_bucket(), Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
    try:
        with transaction() as tx:
            tx.update(e, actions=[Export.status.set("ready"), Export.key.set(key), Export.finished_at.set(clock.now())],
                      condition=Export.status == "running")
            emit(tx, "followup.export_ready", {"export_id": e.export_id, "doctor_id": e.doctor_id,
                                               "template_id": e.template_id})
    except TransactWriteError:
        pass
