"""The service's settings model (pydantic), loaded on first use by ``config.get_settings``."""

import os

from pydantic import BaseModel, ConfigDict, Field


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
    booking_request_ttl_h: int = Field(default=72, ge=1)
    platform_fee_bps: int = Field(default=1000, ge=0, le=10000)  # platform's share of each paid order
    payment_check_after_s: int = 180  # reconcile an unconfirmed payment attempt after this long
    # follow-up (随访): hours a task stays open to answer; an unacknowledged urgent alert is raised again after
    followup_window_h: int = Field(default=72, ge=1, le=24 * 30)
    followup_alert_reraise_h: int = Field(default=4, ge=1, le=72)
    followup_export_page: int = Field(default=100, ge=1, le=1000)  # plans per export step
    followup_export_url_ttl_s: int = Field(default=300, ge=30, le=3600)
