"""Provider configuration and clients: secrets from SSM, the HTTP transport, and the clock.

Tests and the local stack swap the transport (``set_transport``) so the real client code talks
to the sandbox; on AWS it is plain HTTPS.
"""


from functools import lru_cache

from botocore.exceptions import ClientError

from chalicelib.core import clock
from chalicelib.core.aws import secret_parameter
from chalicelib.core.config import get_settings
from chalicelib.core.errors import Unprocessable

from . import wechat
from .alipay import AlipayClient, AlipayConfig

_transport: list[wechat.Transport] = [wechat.urllib_transport]


def wechat_param_name(stage: str) -> str:
    return f"/suizhen/{stage}/wechatpay"


def alipay_param_name(stage: str) -> str:
    return f"/suizhen/{stage}/alipay"


def set_transport(transport: wechat.Transport | None) -> None:
    _transport[0] = transport or wechat.urllib_transport
    reset()


def _merchant_parameter(name: str) -> str:
    """A channel's merchant configuration; a channel this deployment has not configured is a
    clear 422 for the payer, not a 500."""
    try:
        return secret_parameter(name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ParameterNotFound":
            raise
        raise Unprocessable("this payment channel is not available", code="channel_unavailable") from None


def wechat_config() -> wechat.WechatConfig:
    return wechat.WechatConfig.from_json(_merchant_parameter(wechat_param_name(get_settings().stage)))


def alipay_config() -> AlipayConfig:
    return AlipayConfig.from_json(_merchant_parameter(alipay_param_name(get_settings().stage)))


@lru_cache(maxsize=1)
def wechat_client() -> wechat.WechatClient:
    return wechat.WechatClient(wechat_config(), lambda *a: _transport[0](*a), clock.epoch)


@lru_cache(maxsize=1)
def alipay_client() -> AlipayClient:
    return AlipayClient(alipay_config(), lambda *a: _transport[0](*a), shanghai_timestamp)


def shanghai_timestamp(at=None) -> str:
    """Alipay's time format: Asia/Shanghai ``yyyy-MM-dd HH:mm:ss`` (now, or ``at``)."""
    return (at or clock.now()).astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


def notify_url(kind: str) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/v1/payments/wechat/{kind}"


def reset() -> None:
    wechat_client.cache_clear()
    alipay_client.cache_clear()

