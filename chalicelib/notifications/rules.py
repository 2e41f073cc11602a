"""Which events notify whom: the one table. Adding an event is one entry in ``RULES`` (and, if it
needs new words, one in ``TEMPLATES``).

Each rule names the payload fields that hold the recipients' account ids (or a function of the
payload), the channels, the preference category, the urgency and the template:

- ``critical`` rules bypass preferences and quiet hours (payment result, consultation refunded,
  booking cancelled by the doctor, urgent follow-up alert) — only these;
- ``low`` rules write the inbox at once and collect push into one daily digest;
- ``digest`` rules push a doctor at most once per conversation per 10 minutes ("3 条新消息");
- ``stale`` names a re-check run just before a push/SMS/WeChat send (a reminder for a booking
  that was cancelled meanwhile is ``not_sent: stale``).

Texts: ``body`` is the in-app text (the inbox is behind login); ``lock`` is what push and SMS
say on a lock screen — what happened, never what was said or a diagnosis — unless the user
turned previews on, when push carries ``body``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.core.clock import SHANGHAI

CHANNELS = ("inbox", "push", "sms", "wechat")
OPTIONAL_CHANNELS = ("push", "sms", "wechat")  # the inbox is the record; it is always written
CATEGORIES = ("binding", "message", "consultation", "booking", "payment", "account", "followup", "opinion",
              "referral")
URGENCIES = ("critical", "high", "normal", "low")

Recipients = tuple[str, ...] | Callable[[dict], list[str]]


@dataclass(frozen=True)
class Rule:
    to: Recipients
    channels: tuple[str, ...]
    category: str
    urgency: str
    template: str
    link: tuple[str, str] | None = None  # (object type, payload field holding its id)
    digest: bool = False
    stale: str | None = None
    also: str | None = None  # the key of a second rule: other recipients of the same event, other words


    @property
    def critical(self) -> bool:
        return self.urgency == "critical"

    def recipients(self, payload: dict) -> list[str]:
        ids = self.to(payload) if callable(self.to) else [payload.get(f) for f in self.to]
        return list(dict.fromkeys(i for i in ids if i))


def _other_side(p: dict) -> list[str]:
    if p.get("sender_role") == "patient":
        return [p.get("doctor_id") or ""]
    return [p.get("patient_account_id") or ""]  # the doctor's messages and system cards go to the patient


PATIENT = ("patient_account_id",)
EXPERT = ("expert_id",)  # opinions: the expert holding (or, after the report, who held) the case
BOOKER = ("account_id",)
PAYER = ("payer_account_id",)
DOCTOR = ("doctor_id",)
SURGEON = ("surgeon_id",)  # referrals: the surgeon proposed for (or holding) the case


def _parties(p: dict) -> list[str]:
    """Referrals: everyone with an account on the case (patient, referring doctor, surgeon)."""
    return list(p.get("parties") or [])

RULES: dict[str, Rule] = {
    # bindings (患者报到)
    "binding.requested": Rule(DOCTOR, ("inbox", "push"), "binding", "normal", "binding_requested",
                              ("binding", "binding_id")),
    "binding.activated": Rule(PATIENT, ("inbox", "push", "wechat"), "binding", "normal", "binding_activated",
                              ("conversation", "binding_id")),
    "binding.rejected": Rule(PATIENT, ("inbox", "push"), "binding", "normal", "binding_rejected",
                             ("binding", "binding_id")),
    # messaging (随诊)
    "message.created": Rule(_other_side, ("inbox", "push"), "message", "normal", "message_created",
                            ("conversation", "conversation_id"), digest=True),
    "consultation.opened": Rule(DOCTOR, ("inbox", "push"), "consultation", "high", "consultation_opened",
                                ("conversation", "conversation_id")),
    "consultation.reply_due": Rule(DOCTOR, ("inbox", "push", "sms"), "consultation", "high", "consultation_reply_due",
                                   ("conversation", "conversation_id"), stale="consultation_unanswered"),
    "consultation.refunded": Rule(PATIENT, ("inbox", "push", "sms"), "consultation", "critical",
                                  "consultation_refunded", ("conversation", "conversation_id")),
    # booking (加号)
    "booking.held": Rule(BOOKER, ("inbox", "push", "wechat"), "booking", "high", "booking_held",
                         ("booking", "booking_id")),
    "booking.offered": Rule(BOOKER, ("inbox", "push", "sms"), "booking", "high", "booking_offered",
                            ("booking", "booking_id")),
    "booking.confirmed": Rule(BOOKER, ("inbox", "push", "wechat"), "booking", "normal", "booking_confirmed",
                              ("booking", "booking_id")),
    "booking.cancelled": Rule(BOOKER, ("inbox",), "booking", "normal", "booking_cancelled",
                              ("booking", "booking_id")),
    "booking.cancelled#doctor": Rule(BOOKER, ("inbox", "push", "sms"), "booking", "critical",
                                     "booking_cancelled_by_doctor", ("booking", "booking_id")),
    "booking.reminder": Rule(BOOKER, ("inbox", "push", "wechat"), "booking", "normal", "booking_reminder",
                             ("booking", "booking_id"), stale="booking_confirmed"),
    "booking.request_created": Rule(DOCTOR, ("inbox", "push"), "booking", "low", "booking_request_created",
                                    ("booking_request", "request_id")),
    "booking.request_declined": Rule(BOOKER, ("inbox", "push"), "booking", "normal", "booking_request_declined",
                                     ("booking_request", "request_id")),
    "booking.request_expired": Rule(BOOKER, ("inbox", "push"), "booking", "low", "booking_request_expired",
                                    ("booking_request", "request_id")),
    "booking.request_lapsing": Rule(BOOKER, ("inbox", "push"), "booking", "normal", "booking_request_lapsing",
                                    ("booking_request", "request_id"), stale="booking_request_open"),
    # payments
    "order.paid": Rule(PAYER, ("inbox", "push"), "payment", "critical", "order_paid", ("order", "order_id")),
    "order.refunded": Rule(PAYER, ("inbox", "push", "sms"), "payment", "critical", "order_refunded",
                           ("order", "order_id")),
    # doctors
    "doctor.verified": Rule(DOCTOR, ("inbox", "push", "sms"), "account", "normal", "doctor_verified"),
    "doctor.rejected": Rule(DOCTOR, ("inbox", "push"), "account", "normal", "doctor_rejected"),
    # follow-up plans (随访)
    "followup.task_due": Rule(PATIENT, ("inbox", "push", "wechat"), "followup", "normal", "followup_task_due",
                              ("followup_plan", "plan_id")),
    "followup.task_reminder": Rule(PATIENT, ("inbox", "push", "wechat"), "followup", "normal",
                                   "followup_task_reminder", ("followup_plan", "plan_id"),
                                   stale="followup_task_open"),
    "followup.task_missed": Rule(PATIENT, ("inbox", "push"), "followup", "low", "followup_task_missed",
                                 ("followup_plan", "plan_id")),
    "followup.alert_raised": Rule(DOCTOR, ("inbox", "push"), "followup", "low", "followup_alert_routine",
                                  ("followup_alert", "alert_id")),
    "followup.alert_raised#urgent": Rule(DOCTOR, ("inbox", "push", "sms"), "followup", "critical",
                                         "followup_alert_urgent", ("followup_alert", "alert_id")),
    "followup.export_ready": Rule(DOCTOR, ("inbox",), "followup", "normal", "followup_export_ready",
                                  ("followup_export", "export_id")),
    # second opinion (二次诊疗); opinion.submitted is for operators, whom no rule can address
    "opinion.more_records_requested": Rule(PATIENT, ("inbox", "push", "sms"), "opinion", "high",
                                           "opinion_more_records", ("opinion_case", "case_id")),
    "opinion.completed": Rule(PATIENT, ("inbox", "push"), "opinion", "normal", "opinion_completed",
                              ("opinion_case", "case_id")),
    "opinion.assigned": Rule(EXPERT, ("inbox", "push", "sms"), "opinion", "high", "opinion_assigned",
                             ("opinion_case", "case_id")),
    "opinion.accepted": Rule(PATIENT, ("inbox", "push"), "opinion", "normal", "opinion_accepted",
                             ("opinion_case", "case_id")),
    "opinion.question_asked": Rule(PATIENT, ("inbox", "push"), "opinion", "high", "opinion_question_asked",
                                   ("opinion_case", "case_id")),
    "opinion.question_answered": Rule(EXPERT, ("inbox", "push"), "opinion", "normal", "opinion_question_answered",
                                      ("opinion_case", "case_id")),
    "opinion.report_published": Rule(PATIENT, ("inbox", "push", "sms"), "opinion", "high",
                                     "opinion_report_published", ("opinion_case", "case_id")),
    "opinion.followup_asked": Rule(EXPERT, ("inbox", "push"), "opinion", "normal", "opinion_followup_asked",
                                   ("opinion_case", "case_id")),
    "opinion.addendum_published": Rule(PATIENT, ("inbox", "push"), "opinion", "normal", "opinion_addendum_published",
                                       ("opinion_case", "case_id")),
    "opinion.refunded": Rule(PATIENT, ("inbox", "push", "sms"), "opinion", "critical", "opinion_refunded",
                             ("opinion_case", "case_id"), also="opinion.refunded#expert"),
    "opinion.refunded#expert": Rule(("holder_id",), ("inbox", "push"), "opinion", "normal",
                                    "opinion_refunded_expert", ("opinion_case", "case_id")),
    "opinion.outcome_requested": Rule(PATIENT, ("inbox", "push", "wechat"), "opinion", "normal",
                                      "opinion_outcome_requested", ("opinion_case", "case_id")),
    # surgery referral (名医主刀); referral.submitted is for operators (their triage queue)
    "referral.consent_requested": Rule(PATIENT, ("inbox", "push"), "referral", "high", "referral_consent_requested",
                                       ("referral_case", "case_id")),
    "referral.proposed": Rule(SURGEON, ("inbox", "push", "sms"), "referral", "high", "referral_proposed",
                              ("referral_case", "case_id")),
    "referral.accepted": Rule(PATIENT, ("inbox", "push"), "referral", "high", "referral_accepted",
                              ("referral_case", "case_id"), also="referral.accepted#referrer"),
    "referral.accepted#referrer": Rule(("referrer_id",), ("inbox",), "referral", "normal",
                                       "referral_accepted_referrer", ("referral_case", "case_id")),
    "referral.confirmed": Rule(_parties, ("inbox", "push"), "referral", "normal", "referral_confirmed",
                               ("referral_case", "case_id")),
    "referral.checklist_reminder": Rule(PATIENT, ("inbox", "push", "wechat"), "referral", "normal",
                                        "referral_checklist_reminder", ("referral_case", "case_id")),
    "referral.surgeon_cancelled": Rule(_parties, ("inbox", "push", "sms"), "referral", "high",
                                       "referral_surgeon_cancelled", ("referral_case", "case_id")),
    "referral.host_cancelled": Rule(_parties, ("inbox", "push", "sms"), "referral", "high",
                                    "referral_host_cancelled", ("referral_case", "case_id")),
    "referral.cancelled": Rule(_parties, ("inbox", "push", "sms"), "referral", "high", "referral_cancelled",
                               ("referral_case", "case_id")),
    "referral.surgery_done": Rule(("account_id",), ("inbox", "push"), "referral", "normal", "referral_surgery_done",
                                  ("referral_case", "case_id")),
}


def rule_key(event_type: str, payload: dict) -> str:
    """Some events notify differently by their content (one booking.cancelled is critical)."""
    if event_type == "booking.cancelled" and payload.get("status") == "doctor_cancelled":
        return "booking.cancelled#doctor"
    if event_type == "followup.alert_raised" and payload.get("severity") == "urgent":
        return "followup.alert_raised#urgent"
    return event_type


def routes(event_type: str, payload: dict) -> list[tuple[str, Rule]]:
    """Each recipient with the rule that words their notification (an ``also`` rule adds others)."""
    rule = RULES.get(rule_key(event_type, payload))
    if rule is None:  # synthetic sends (digests) have no rule
        return []
    out = [(a, rule) for a in rule.recipients(payload)]
    if rule.also:
        seen = {a for a, _ in out}
        out += [(a, RULES[rule.also]) for a in RULES[rule.also].recipients(payload) if a not in seen]
    return out


def rule_for(event_type: str, payload: dict, account_id: str) -> Rule | None:
    """The rule a delivery to ``account_id`` was made under (retries and held sends re-read it)."""
    for a, rule in routes(event_type, payload):
        if a == account_id:
            return rule
    return RULES.get(rule_key(event_type, payload))


def event_types() -> list[str]:
    return sorted({k.split("#")[0] for k in RULES})


# --- texts ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Template:
    title: str
    body: str
    lock: str
    sms: tuple[str, tuple[str, ...]] | None = None  # SMS: the approved template's key and its parameter names
    wechat: dict[str, tuple[str, str]] = field(default_factory=dict)  # WeChat: key → (kind, fact)


_BOOKING_WX = {"thing1": ("thing", "doctor_label"), "time2": ("time", "starts_local"),
               "phrase3": ("phrase", "status_word")}

_FOLLOWUP_WX = {"thing1": ("thing", "title"), "time2": ("time", "window_local"),
                "phrase3": ("phrase", "status_word")}

TEMPLATES: dict[str, Template] = {
    "binding_requested": Template("新的报到申请", "有患者向您发起报到，请及时处理", "您有一条新的报到申请"),
    "binding_activated": Template("报到已通过", "医生已通过您的报到，可以开始随诊咨询", "您的报到已通过",
                                  wechat={"thing1": ("thing", "title"), "phrase2": ("phrase", "status_word")}),
    "binding_rejected": Template("报到未通过", "医生未通过您的报到申请", "您的报到申请有新进展"),
    "message_created": Template("新消息", "您有一条新消息", "您有一条新消息"),
    "message_digest": Template("新消息", "{count} 条新消息", "{count} 条新消息"),
    "daily_digest": Template("今日提醒", "您今天有 {count} 条提醒", "您今天有 {count} 条提醒"),
    "consultation_opened": Template("新的图文咨询", "有患者购买了图文咨询，请在 {deadline_local} 前回复",
                                    "您有一个新的咨询待回复"),
    "consultation_reply_due": Template("咨询即将超时", "有一个图文咨询尚未回复，请在 {deadline_local} 前回复，超时将全额退款",
                                       "您有一个咨询即将超时", sms=("consultation_reply_due", ("time",))),
    "consultation_refunded": Template("咨询已退款", "医生未能在时限内回复，咨询费 {amount_yuan} 元已全额退回",
                                      "您的咨询费已退回", sms=("consultation_refunded", ())),
    "booking_held": Template("请完成支付", "加号已为您保留，请在 {hold_local} 前完成支付", "您的加号待支付",
                             wechat=_BOOKING_WX),
    "booking_offered": Template("候补成功", "候补的加号已为您保留，请在 {hold_local} 前支付确认",
                                "您候补的加号有空位了", sms=("booking_offered", ("time",)), wechat=_BOOKING_WX),
    "booking_confirmed": Template("加号已确认", "您的加号已确认：{starts_local}", "您的加号已确认", wechat=_BOOKING_WX),
    "booking_cancelled": Template("加号已取消", "您的加号已取消", "您的加号已取消"),
    "booking_cancelled_by_doctor": Template("加号已取消", "医生取消了 {starts_local} 的加号，费用将全额退回",
                                            "医生取消了您的加号", sms=("booking_cancelled", ("time",))),
    "booking_reminder": Template("就诊提醒", "您的加号将于 {starts_local} 开始，请按时到院", "您有一个加号就诊提醒",
                                 wechat=_BOOKING_WX),
    "booking_request_created": Template("新的加号申请", "有患者申请加号", "您有一条新的加号申请"),
    "booking_request_declined": Template("加号申请未通过", "医生暂时无法为您加号", "您的加号申请有新进展"),
    "booking_request_expired": Template("加号申请已过期", "您的加号申请未获处理，已过期", "您的加号申请有新进展"),
    "booking_request_lapsing": Template("加号申请即将到期", "您的加号申请将于 {expires_local} 到期，医生尚未安排；"
                                                        "如仍需就诊，可重新申请更晚的日期", "您的加号申请即将到期"),
    "order_paid": Template("支付成功", "您已成功支付 {amount_yuan} 元", "支付成功"),
    "order_refunded": Template("退款成功", "{amount_yuan} 元已退回原支付账户", "您有一笔退款已到账",
                               sms=("refund", ("amount",))),
    "doctor_verified": Template("认证通过", "您的医生资质已审核通过", "您的医生认证已通过",
                                sms=("doctor_verified", ())),
    "doctor_rejected": Template("认证未通过", "您的医生资质审核未通过，请修改后重新提交", "您的医生认证有新进展"),
    # follow-up: the lock screen names the task's existence, never its content or an answer
    "followup_task_due": Template("随访任务", "医生为您安排的随访任务已开始，请在 {window_local} 前完成",
                                  "您有一项随访任务待完成", wechat=_FOLLOWUP_WX),
    "followup_task_reminder": Template("随访提醒", "您的随访任务尚未完成，请在 {window_local} 前完成",
                                       "您有一项随访任务即将截止", wechat=_FOLLOWUP_WX),
    "followup_task_missed": Template("随访任务已过期", "您有一项随访任务未在时限内完成", "您的随访计划有新进展"),
    "followup_alert_routine": Template("随访提醒", "有患者的随访回答触发了一般提醒，请查看", "您有一条随访提醒"),
    "followup_alert_urgent": Template("随访紧急提醒", "有患者的随访回答触发了紧急提醒，请尽快查看并确认",
                                      "您有一条紧急随访提醒，请尽快查看", sms=("followup_alert_urgent", ())),
    "followup_export_ready": Template("导出已完成", "您申请的科研数据导出已完成，可以下载", "您的数据导出已完成"),
    # second opinion: what happened to the case, never the diagnosis or the report's content
    "opinion_more_records": Template("请补充资料", "您的二次诊疗病例需要补充资料，补充后将继续处理",
                                     "您的二次诊疗病例需要补充资料", sms=("opinion_more_records", ())),
    "opinion_completed": Template("资料审核通过", "您的二次诊疗资料已齐全，专家意见预计在 {deadline_local} 前给出",
                                  "您的二次诊疗病例已进入专家匹配"),
    "opinion_assigned": Template("新的二次诊疗病例", "有一个二次诊疗病例邀请您审阅，请在 {respond_local} 前接受或拒绝",
                                 "您有一个新的二次诊疗病例待接受", sms=("opinion_assigned", ("time",))),
    "opinion_accepted": Template("专家已接诊", "专家已接受您的二次诊疗病例，正在审阅资料", "您的二次诊疗病例有新进展"),
    "opinion_question_asked": Template("专家提问", "专家就您的二次诊疗病例提出了问题，请及时回复",
                                       "您的二次诊疗病例有新消息"),
    "opinion_question_answered": Template("患者已回复", "患者回复了您在二次诊疗病例中的问题", "您的二次诊疗病例有新消息"),
    "opinion_report_published": Template("专家意见已发布", "您的二次诊疗专家意见已发布，请登录查看",
                                         "您的二次诊疗专家意见已发布", sms=("opinion_report_published", ())),
    "opinion_followup_asked": Template("患者追问", "患者就二次诊疗意见提出了追问，请以补充意见回复",
                                       "您的二次诊疗病例有新消息"),
    "opinion_addendum_published": Template("补充意见已发布", "专家回复了您的追问，请登录查看", "您的二次诊疗病例有新进展"),
    "opinion_refunded": Template("二次诊疗已退款", "您的二次诊疗费用已全额退回原支付账户", "您的二次诊疗费用已退回",
                                 sms=("refund_opinion", ())),
    "opinion_refunded_expert": Template("病例已结束", "您审阅中的一个二次诊疗病例已退款结束，资料访问已关闭",
                                        "您的一个二次诊疗病例已结束"),
    "opinion_outcome_requested": Template("意见随访", "请花一分钟告诉我们您是否采纳了专家意见",
                                          "您有一份二次诊疗随访问卷",
                                          wechat={"thing1": ("thing", "title"), "phrase2": ("phrase", "status_word")}),
    # surgery referral: what happened to the case, never the diagnosis or the operation
    "referral_consent_requested": Template("转诊待确认", "您的医生为您提交了名医主刀转诊申请，请查看并确认",
                                           "您有一个转诊申请待确认"),
    "referral_proposed": Template("新的手术邀请", "平台为一个手术转诊病例邀请您主刀，请查看并接受或拒绝",
                                  "您有一个新的手术邀请", sms=("referral_proposed", ())),
    "referral_accepted": Template("专家已接诊", "专家已接受您的手术转诊并给出了可选手术日期，请完成知情同意并确认日期",
                                  "您的手术转诊有新进展"),
    "referral_accepted_referrer": Template("转诊有进展", "您转诊的病例已有专家接诊", "您转诊的病例有新进展"),
    "referral_confirmed": Template("手术已确认", "手术时间已确认：{surgery_local}", "手术安排已确认"),
    "referral_checklist_reminder": Template("术前准备提醒", "请完成术前准备：{item_title}（手术时间 {surgery_local}）",
                                            "您有一项术前准备待完成",
                                            wechat={"thing1": ("thing", "item_title"), "time2": ("time", "surgery_local")}),
    "referral_surgeon_cancelled": Template("专家取消", "主刀专家无法按计划手术，平台正在为您重新匹配，费用不受影响",
                                           "您的手术安排有变化", sms=("referral_changed", ())),
    "referral_host_cancelled": Template("医院取消", "合作医院无法按计划接收手术，平台正在为您重新匹配，费用不受影响",
                                        "您的手术安排有变化", sms=("referral_changed", ())),
    "referral_cancelled": Template("转诊已取消", "手术转诊已取消", "您的手术转诊已取消", sms=("referral_cancelled", ())),
    "referral_surgery_done": Template("手术已完成", "手术已记录完成，术后随访计划将由您的医生跟进", "您的手术转诊有新进展"),
}

# WeChat subscribe-message value limits (characters) by the template field's kind.
WECHAT_LIMITS = {"thing": 20, "phrase": 5, "character_string": 32, "time": 30, "number": 32, "amount": 32}
STATUS_WORDS = {"booking.held": "待支付", "booking.offered": "待支付", "booking.confirmed": "已确认",
                "booking.reminder": "即将开始", "binding.activated": "已通过", "followup.task_due": "待完成",
                "followup.task_reminder": "即将截止", "opinion.outcome_requested": "待填写",
                "referral.checklist_reminder": "待完成"}


def facts(event_type: str, payload: dict, extra: dict | None = None) -> dict[str, Any]:
    """The values templates may use, derived from the payload (ids, times, amounts only)."""
    f: dict[str, Any] = {"count": 1, "status_word": STATUS_WORDS.get(event_type, "有更新"), "doctor_label": "您的加号"}
    for name, key in (("starts_local", "starts_at"), ("hold_local", "hold_expires_at"),
                      ("deadline_local", "deadline_at"), ("window_local", "window_ends_at"),
                      ("respond_local", "respond_by"), ("expires_local", "expires_at"),
                      ("surgery_local", "surgery_at")):
        f[name] = _local(payload.get(key))
    f["item_title"] = str(payload.get("item_title") or "-")  # a checklist item's name (术前检查), never health data
    amount = payload.get("refund_amount_fen", payload.get("amount_fen"))
    f["amount_yuan"] = f"{int(amount) / 100:.2f}" if isinstance(amount, int) else "-"
    f["time"] = next((f[k] for k in ("starts_local", "respond_local", "deadline_local") if f[k] != "-"), "-")
    f["amount"] = f["amount_yuan"]
    f.update(extra or {})
    return f


def _local(raw: Any) -> str:
    if not raw:
        return "-"
    try:
        return datetime.fromisoformat(str(raw)).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return "-"


def render(template: str, f: dict) -> tuple[str, str, str]:
    t = TEMPLATES[template]
    return t.title, t.body.format(**f), t.lock.format(**f)


def wechat_data(template: str, f: dict) -> dict[str, dict[str, str]]:
    """The subscribe message's ``data``, each value cut to its kind's limit."""
    data = {}
    f = {"title": TEMPLATES[template].title, **f}  # a "thing" naming the notice itself (随访任务)
    for key, (kind, fact) in TEMPLATES[template].wechat.items():
        value = str(f.get(fact, "")) or "-"
        if kind == "character_string":
            value = "".join(c for c in value if c.isascii() and c.isprintable())
        limit = WECHAT_LIMITS[kind]
        if len(value) > limit:
            value = value[: limit - 1] + "…" if kind == "thing" else value[:limit]
        data[key] = {"value": value}
    return data
