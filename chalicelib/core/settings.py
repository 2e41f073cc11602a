"""The service's settings model (pydantic), loaded on first use by ``config.get_settings``."""

import os

from pydantic import BaseModel, ConfigDict, Field, Json


class Settings(BaseModel):
    """``SUIZHEN_<FIELD>`` environment variables, validated (pydantic-settings' behaviour in a
    few lines: it costs ~35 ms of cold start to import)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    stage: str = "dev"
    table_prefix: str = "suizhen-dev-"
    region: str = Field(default_factory=lambda: os.environ.get("AWS_DEFAULT_REGION", "cn-north-1"))
    # SSM parameter names; their values are secrets and never live in code or config.
    signing_keys_param: str = "/suizhen/dev/jwt-signing-keys"
    data_key_param: str = "/suizhen/dev/data-key"
    jwt_issuer: str = "suizhen"
    jwt_audience: str = "suizhen-app"
    access_token_ttl_s: int = Field(default=900, le=900)
    refresh_token_ttl_s: int = 30 * 24 * 3600
    sms_code_ttl_s: int = 300
    sms_max_tries: int = 5
    sms_per_phone_per_hour: int = 5
    sms_per_ip_per_hour: int = 30
    # dev only: echo SMS codes on the stack console instead of relying on a real SMS gateway.
    dev_sms_echo: bool = False
    attachments_bucket: str = "suizhen-dev-attachments"
    public_base_url: str = "http://127.0.0.1:8000"
    timer_shards: int = Field(default=8, ge=1, le=64)
    max_body_bytes: int = 64 * 1024
    idempotency_ttl_s: int = Field(default=26 * 3600, ge=26 * 3600)
    secrets_cache_ttl_s: int = 300
    # booking (加号): free cancellation up to this many hours before a session; unpaid holds per account
    booking_cancel_cutoff_h: int = Field(default=24, ge=0)
    booking_max_unpaid_holds: int = Field(default=2, ge=1)
    # messaging: group sends (群发) a doctor may start per Asia/Shanghai day, and recipients per send
    messaging_group_sends_per_day: int = Field(default=3, ge=1)
    messaging_group_max_recipients: int = Field(default=10_000, ge=1, le=10_000)
    platform_fee_bps: int = Field(default=1000, ge=0, le=10000)  # platform's share of each paid order
    payment_check_after_s: int = 180  # reconcile an unconfirmed payment attempt after this long
    # Event relay → SNS topic → one SQS queue per unit (chalicelib/topology.py); set by the template.
    events_topic_arn: str = ""
    # Which unit (chalicelib/topology.py) a deployed function serves; empty = the whole app.
    unit: str = ""
    # unit → the function answering its synchronous calls (chalicelib/calls.py), as JSON; set by the
    # template for units that call another. Empty: the callee runs in this process (tests, local API).
    call_functions: Json[dict[str, str]] = Field(default_factory=dict)
    # second opinions (二次诊疗)
    opinion_match_price_fen: int = Field(default=200_000, ge=100)  # price when the platform matches the expert
    opinion_turnaround_workdays: int = Field(default=5, ge=1, le=30)  # from a complete case to the report
    opinion_respond_hours: int = Field(default=24, ge=1)  # an assigned expert accepts or declines within this
    opinion_max_experts: int = Field(default=3, ge=1, le=10)  # experts asked before a full refund
    opinion_followup_days: int = Field(default=14, ge=1)
    opinion_followups_max: int = Field(default=3, ge=0, le=10)
    opinion_outcome_days: int = Field(default=30, ge=1)
    opinion_share_ttl_s: int = Field(default=72 * 3600, ge=600, le=7 * 24 * 3600)  # report link for the treating doctor
    # notifications: provider credentials and template ids live in one SSM SecureString (JSON)
    notify_providers_param: str = "/suizhen/dev/notify-providers"
    sms_provider: str = Field(default="sns", pattern="^(aliyun|tencent|sns|none)$")  # prod: aliyun or tencent
    provider_base_url: str | None = None  # dev/test: every provider adapter talks to the local fake
    provider_timeout_s: float = Field(default=5, gt=0, le=10)
    notify_quiet_start: str = "22:00"  # Asia/Shanghai, the default for every account
    notify_quiet_end: str = "08:00"
    notify_max_attempts: int = Field(default=5, ge=1, le=10)
    sms_daily_per_template: int = Field(default=50, ge=1)  # Aliyun: 50 notification SMS per number per template per day
    # follow-up (随访): hours a task stays open to answer; an unacknowledged urgent alert is raised again after
    followup_window_h: int = Field(default=72, ge=1, le=24 * 30)
    followup_alert_reraise_h: int = Field(default=4, ge=1, le=72)
    followup_export_page: int = Field(default=100, ge=1, le=1000)  # plans per export step
    followup_export_url_ttl_s: int = Field(default=300, ge=30, le=3600)
    # surgery referral (名医主刀): the platform's service fee (no doctor is paid from it, a referrer never),
    # the consent texts' versions, how many surgeons are asked, the post-operative plan template
    referral_fee_fen: int = Field(default=50_000, ge=100)
    referral_consent_version: str = "2026-12"
    referral_surgery_consent_version: str = "2026-12"
    referral_max_surgeons: int = Field(default=3, ge=1, le=10)  # surgeons asked before the fee is refunded
    referral_postop_template: str = "lib_postop30"
