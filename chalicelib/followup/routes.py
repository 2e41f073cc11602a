"""Follow-up (随访) routes: templates, plans, tasks and answers, alerts, views, research."""

from chalicelib.core.http import Api, Ctx, ListOf
from chalicelib.core.lazy import lazy_module

service = lazy_module("chalicelib.followup.service")
tasks = lazy_module("chalicelib.followup.tasks")
alert_service = lazy_module("chalicelib.followup.alerts")
templates = lazy_module("chalicelib.followup.templates")
views = lazy_module("chalicelib.followup.views")
research = lazy_module("chalicelib.followup.research")

api = Api("followup")
DOCTOR = ("doctor",)
PATIENT = ("patient",)


# --- doctor: templates -----------------------------------------------------------------------

@api.route("/v1/doctor/followup/templates", "POST", roles=DOCTOR, request="TemplateIn", response="TemplateOut",
           status=201, idempotent=True, errors=(404,),
           summary="Write a plan template: items at offsets from an anchor date, once or repeating")
def create_template(ctx: Ctx):
    return templates.create(ctx.caller, ctx.body)


@api.route("/v1/doctor/followup/templates", "GET", roles=DOCTOR, query="TemplatesQuery",
           response=ListOf("TemplateSummary"),
           summary="Templates: my own, my department's shared ones, or the library (one Query)")
def list_templates(ctx: Ctx):
    return templates.listing(ctx.caller, ctx.query.scope, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/doctor/followup/templates/{template_id}", "GET", roles=DOCTOR, query="VersionQuery",
           response="TemplateOut", errors=(404,), summary="One template (latest version unless ?version=)")
def get_template(ctx: Ctx, template_id: str):
    return templates.get(ctx.caller, template_id, ctx.query.version)


@api.route("/v1/doctor/followup/templates/{template_id}", "PUT", roles=DOCTOR, request="TemplateIn",
           response="TemplateOut", errors=(404, 409),
           summary="Edit my template: writes a new version; plans already assigned keep theirs")
def update_template(ctx: Ctx, template_id: str):
    return templates.update(ctx.caller, template_id, ctx.body)


@api.route("/v1/doctor/followup/templates/{template_id}/adherence", "GET", roles=DOCTOR, response="Adherence",
           errors=(404,), summary="Adherence of my patients' plans of a template: per item, median delay, alert rate")
def adherence(ctx: Ctx, template_id: str):
    return views.adherence(ctx.caller, template_id)


@api.route("/v1/doctor/followup/templates/{template_id}/exports", "POST", roles=DOCTOR, response="ExportOut",
           status=202, errors=(404,),
           summary="De-identified research export (CSV) of a template's answers; 202, poll the export")
def request_export(ctx: Ctx, template_id: str):
    return research.request_export(ctx.caller, template_id)


@api.route("/v1/doctor/followup/exports/{export_id}", "GET", roles=DOCTOR, response="ExportOut", errors=(404,),
           summary="An export's progress; once ready, a short-lived download URL")
def get_export(ctx: Ctx, export_id: str):
    return research.get_export(ctx.caller, export_id)


# --- doctor: plans ---------------------------------------------------------------------------

@api.route("/v1/doctor/followup/plans", "POST", roles=DOCTOR, request="PlanCreate", response="PlanDetail",
           status=201, idempotent=True, errors=(404,),
           summary="Assign a template to a bound patient's profile with the anchor date")
def assign(ctx: Ctx):
    return service.assign(ctx.caller, ctx.body)


@api.route("/v1/doctor/followup/plans", "GET", roles=DOCTOR, query="PlansQuery", response=ListOf("PlanOut"),
           summary="My patients' plans, newest first (optionally one profile's)")
def doctor_plans(ctx: Ctx):
    q = ctx.query
    return service.doctor_plans(ctx.caller, q.profile_id, q.limit, q.cursor)


@api.route("/v1/doctor/followup/plans/{plan_id}", "GET", roles=DOCTOR, response="PlanDetail", errors=(404,),
           summary="A plan's timeline")
def doctor_plan(ctx: Ctx, plan_id: str):
    return service.plan_detail(service.doctors_plan(ctx.caller, plan_id), detail=True)


@api.route("/v1/doctor/followup/plans/{plan_id}", "PATCH", roles=DOCTOR, request="PlanUpdate",
           response="PlanDetail", errors=(404, 409), summary="Move the anchor date: pending occurrences rescheduled")
def change_anchor(ctx: Ctx, plan_id: str):
    return service.change_anchor(ctx.caller, plan_id, ctx.body.anchor_date)


@api.route("/v1/doctor/followup/plans/{plan_id}/pause", "POST", roles=DOCTOR, response="PlanOut", errors=(404, 409),
           summary="Pause a plan: pending tasks and their timers cancelled")
def pause(ctx: Ctx, plan_id: str):
    return service.pause(ctx.caller, plan_id)


@api.route("/v1/doctor/followup/plans/{plan_id}/resume", "POST", roles=DOCTOR, response="PlanDetail",
           errors=(404, 409), summary="Resume a paused plan from the next occurrence still ahead")
def resume(ctx: Ctx, plan_id: str):
    return service.resume(ctx.caller, plan_id)


@api.route("/v1/doctor/followup/plans/{plan_id}/stop", "POST", roles=DOCTOR, response="PlanOut", errors=(404, 409),
           summary="Stop a plan for good")
def stop(ctx: Ctx, plan_id: str):
    return service.stop(ctx.caller, plan_id)


@api.route("/v1/doctor/followup/patients/{profile_id}", "GET", roles=DOCTOR, response="PatientFollowup",
           errors=(404,), summary="One patient: plan timelines, trends of numeric answers, open alerts (audited)")
def patient_view(ctx: Ctx, profile_id: str):
    return views.patient(ctx.caller, profile_id, ctx.request_id)


@api.route("/v1/doctor/followup/alerts", "GET", roles=DOCTOR, query="ListQuery", response=ListOf("AlertOut"),
           summary="Open alerts across my patients, urgent first (one Query)")
def alerts(ctx: Ctx):
    return alert_service.open_alerts(ctx.caller, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/doctor/followup/alerts/{alert_id}/acknowledge", "POST", roles=DOCTOR, request="AckIn",
           response="AlertOut", errors=(404, 409), summary="Acknowledge an alert (stops an urgent one being re-raised)")
def acknowledge(ctx: Ctx, alert_id: str):
    return alert_service.acknowledge(ctx.caller, alert_id, ctx.body.note)


# --- patient ---------------------------------------------------------------------------------

@api.route("/v1/followup/plans", "GET", roles=PATIENT, query="PlansQuery", response=ListOf("PlanOut"),
           errors=(400,), summary="Plans of a profile I manage (profile_id required)")
def my_plans(ctx: Ctx):
    q = ctx.query
    return service.patient_plans(ctx.caller, q.profile_id, q.limit, q.cursor)


@api.route("/v1/followup/plans/{plan_id}", "GET", roles=PATIENT, response="PlanDetail", errors=(404,),
           summary="A plan and its timeline")
def my_plan(ctx: Ctx, plan_id: str):
    return service.plan_detail(service.patients_plan(ctx.caller, plan_id))


@api.route("/v1/followup/plans/{plan_id}/tasks/{task_id}", "GET", roles=PATIENT, response="TaskOut", errors=(404,),
           summary="A task with what to do: text, questionnaire, article, medication or 加号 link")
def my_task(ctx: Ctx, plan_id: str, task_id: str):
    return tasks.get_task(ctx.caller, plan_id, task_id)


@api.route("/v1/followup/plans/{plan_id}/tasks/{task_id}/answers", "POST", roles=PATIENT, request="AnswerIn",
           response="AnswerOut", errors=(404, 409, 422),
           summary="Answer a due questionnaire (late inside the window counts); urgent findings return safety advice")
def answer(ctx: Ctx, plan_id: str, task_id: str):
    return tasks.answer(ctx.caller, plan_id, task_id, ctx.body.answers)


@api.route("/v1/followup/plans/{plan_id}/tasks/{task_id}/complete", "POST", roles=PATIENT, response="TaskOut",
           errors=(404, 409, 422), summary="Mark a reminder, article, 加号 suggestion or medication dose done")
def complete(ctx: Ctx, plan_id: str, task_id: str):
    return tasks.complete(ctx.caller, plan_id, task_id)


@api.route("/v1/followup/research-consent", "GET", response="ConsentText",
           summary="The current research consent text and its version")
def consent_text(ctx: Ctx):
    return research.consent_text()


@api.route("/v1/followup/profiles/{profile_id}/research-consent", "GET", roles=PATIENT, response="ResearchConsentOut",
           errors=(404,), summary="A profile's research consent")
def get_consent(ctx: Ctx, profile_id: str):
    return research.get_consent(ctx.caller, profile_id)


@api.route("/v1/followup/profiles/{profile_id}/research-consent", "PUT", roles=PATIENT, request="ConsentIn",
           response="ResearchConsentOut", errors=(404, 422), summary="Give research consent (the current version) for a profile")
def grant_consent(ctx: Ctx, profile_id: str):
    return research.grant(ctx.caller, profile_id, ctx.body.version)


@api.route("/v1/followup/profiles/{profile_id}/research-consent", "DELETE", roles=PATIENT, response="ResearchConsentOut",
           errors=(404, 409), summary="Withdraw research consent: later exports leave the profile out")
def withdraw_consent(ctx: Ctx, profile_id: str):
    return research.withdraw(ctx.caller, profile_id)
