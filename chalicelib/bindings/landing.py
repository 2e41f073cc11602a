"""The landing page a binding QR code opens (``/b/{code}``) and the QR images themselves."""

import io
from html import escape

TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title>
<style>
body{{font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#f4f6f8;color:#222}}
.card{{background:#fff;margin:24px 16px;padding:24px;border-radius:12px;box-shadow:0 1px 4px rgba(0,0,0,.08)}}
h1{{font-size:22px;margin:0 0 8px}} .muted{{color:#666;font-size:15px;margin:4px 0}}
.btn{{display:block;text-align:center;background:#1677ff;color:#fff;text-decoration:none;padding:14px;
border-radius:8px;margin-top:20px;font-size:17px}} .note{{font-size:13px;color:#888;margin-top:16px}}
</style></head><body><main class="card">{body}</main></body></html>"""

TITLES_ZH = {"chief": "主任医师", "associate_chief": "副主任医师", "attending": "主治医师", "resident": "住院医师"}
KIND_NOTE = {"live": "扫码后即可与医生建立随诊关系。",
             "clinic": "提交报到后，医生确认即可开始随诊。",
             "slip": "本码仅限本次就诊使用一次。"}


def doctor_page(code: str, kind: str, doctor) -> str:
    body = (f'<h1 id="doctor-name">{escape(doctor.name)}</h1>'
            f'<p class="muted">{escape(TITLES_ZH.get(doctor.title, doctor.title))}</p>'
            f'<p class="muted">{escape(doctor.hospital)} · {escape(doctor.department)}</p>'
            f'<a class="btn" href="suizhen://bind?code={escape(code, quote=True)}">在App中打开，完成报到</a>'
            f'<p class="note">{escape(KIND_NOTE.get(kind, ""))}仅限线下就诊过的患者使用。</p>')
    return TEMPLATE.format(title=escape(f"{doctor.name} 医生 · 随诊报到"), body=body)


INVALID_PAGES = {
    # an expired live code (60 s) or visit slip: the doctor can show a fresh one
    "code_expired": ("二维码已过期，请让医生刷新", "医生的随诊二维码会定时更新，请让医生在App中刷新后重新扫码。"),
    # never issued, tampered with, or revoked by the doctor
    "code_invalid": ("二维码无效", "请确认扫描的是医生本人出示的随诊二维码，或向医生索取新的二维码。"),
}


def invalid_page(reason: str) -> str:
    """The zh-CN page for a code that does not open a doctor: expired and invalid told apart."""
    title, note = INVALID_PAGES.get(reason, INVALID_PAGES["code_invalid"])
    body = f'<h1 id="code-state">{escape(title)}</h1><p class="note">{escape(note)}</p>'
    return TEMPLATE.format(title=escape(f"{title} · 随诊"), body=body)


def qr_image(url: str, kind: str) -> bytes:
    import segno  # only the routes that draw codes need it

    buf = io.BytesIO()
    segno.make(url, error="m").save(buf, kind=kind, scale=8, border=2)
    return buf.getvalue()
