"""The fake notification providers for tests: started in-process on a loopback port, with the
adapters pointed at it and dev credentials in (moto's) SSM."""

from __future__ import annotations

import json
import os
import urllib.request

from chalicelib.core import aws as core_aws
from chalicelib.core.config import get_settings

_FAKE: dict = {}


def fake_providers(stage: str = "test"):
    """Start the fakes once per session; returns (url, state)."""
    from devstack import fakeproviders

    if not _FAKE:
        _, url, state = fakeproviders.start()
        _FAKE.update(url=url, state=state, secret=json.dumps(fakeproviders.dev_secret()))
    os.environ["SUIZHEN_PROVIDER_BASE_URL"] = _FAKE["url"]
    os.environ["SUIZHEN_PROVIDER_TIMEOUT_S"] = "1"
    get_settings.cache_clear()
    core_aws.client("ssm").put_parameter(Name=get_settings().notify_providers_param, Value=_FAKE["secret"],
                                         Type="SecureString", Overwrite=True)
    core_aws.reset_clients()
    state = _FAKE["state"]
    with state.lock:
        state.received.clear()
        state.failures.clear()
    state.timeout_s = 1.5
    return _FAKE["url"], state


def stop_pointing() -> None:
    os.environ.pop("SUIZHEN_PROVIDER_BASE_URL", None)
    os.environ.pop("SUIZHEN_PROVIDER_TIMEOUT_S", None)
    os.environ.pop("SUIZHEN_SMS_PROVIDER", None)
    get_settings.cache_clear()


def received(url: str, provider: str | None = None) -> list[dict]:
    q = f"?provider={provider}" if provider else ""
    with urllib.request.urlopen(f"{url}/_fake/received{q}", timeout=5) as r:
        return json.loads(r.read())["items"]


def fail(url: str, provider: str, mode: str, times: int = 1) -> None:
    req = urllib.request.Request(f"{url}/_fake/fail", method="POST",
                                 data=json.dumps({"provider": provider, "mode": mode, "times": times}).encode())
    urllib.request.urlopen(req, timeout=5).read()


def wx_code(url: str, openid: str) -> str:
    """What wx.login() hands the mini-program of the WeChat user ``openid`` (fake WeChat)."""
    req = urllib.request.Request(f"{url}/_fake/wechat/code", method="POST", data=json.dumps({"openid": openid}).encode())
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())["code"]
