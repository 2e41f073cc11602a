"""Consent texts the apps show before the patient agrees (PIPL: separate consent for sensitive
personal information). The text and its version are served by ``GET /v1/consents/{kind}``; a
binding records the version the patient accepted, and a scan that accepts an older version is
refused until the patient has seen and accepted the current one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsentText:
    kind: str
    version: str
    title: str
    text: str


CONSENTS: dict[str, ConsentText] = {
    "binding": ConsentText(
        kind="binding",
        version="2026-01",
        title="健康信息共享单独同意书",
        text=("为在线随诊（复诊）服务的需要，您同意将本次就诊信息（就诊日期、就诊类型、医院、诊断及您上传的就诊凭证）"
              "与您所绑定的医生共享。上述信息属于敏感个人信息，仅用于该医生为您提供诊后随访与在线复诊，"
              "每一次查阅均有记录。您可以随时解除与医生的随诊关系；解除后医生将无法再查看您新提交的信息。"
              "病历与咨询记录依法保存不少于十五年。"),
    ),
}


def current(kind: str) -> ConsentText | None:
    return CONSENTS.get(kind)


def required(kind: str) -> ConsentText:
    """A consent the service itself asks for (a missing one is a bug, not a client error)."""
    return CONSENTS[kind]
