"""The doctor's public page (JSON for the apps, a shareable H5 page) and the ranked directory.

The page reads, for one doctor: the profile (doctors), the consultation package (messaging), the
next 加号 sessions (booking), the second-opinion offer (opinions), the counter item, the newest
articles, reviews and approved letters (brand) — 8 DynamoDB calls, none per row.
"""

from __future__ import annotations

from html import escape

from chalicelib.core import clock
from chalicelib.core.pagination import Page, parse_limit, query_page

from . import articles, letters, ranking, reviews
from .models import BrandRank
from .schemas import (
    ConsultationService,
    DoctorPage,
    OpinionService,
    RankedDoctor,
    Score,
    Services,
    SessionService,
)

PAGE_ROWS = 5
TITLES = {"chief": "主任医师", "associate_chief": "副主任医师", "attending": "主治医师", "resident": "住院医师"}
KINDS = {"consultation": "图文问诊", "booking": "加号就诊", "opinion": "二次诊疗", "surgery": "名医主刀"}


def _score(s) -> Score:
    n = int(s.reviews or 0)
    dims = {d: (round(int(getattr(s, d) or 0) / n, 2) if n else None) for d in ranking.DIMENSIONS}
    return Score(score=ranking.score(s), reviews=n, **dims)


def _services(doctor_id: str) -> Services:
    from chalicelib.booking import service as booking
    from chalicelib.messaging import service as messaging
    from chalicelib.opinions import service as opinions
    from chalicelib.referrals import service as referrals

    pkg = messaging.get_package(doctor_id)
    consultation = None
    if pkg.enabled:
        consultation = ConsultationService(price_fen=int(pkg.price_fen), hours=int(pkg.hours),
                                           messages=int(pkg.messages),
                                           reply_deadline_hours=int(pkg.reply_deadline_hours), away=bool(pkg.away))
    sessions = [SessionService(session_id=x.session_id, starts_at=x.starts_at, ends_at=x.ends_at, hospital=x.hospital,
                               fee_fen=x.fee_fen, seats_left=x.seats_left)
                for x in booking.open_sessions(doctor_id, str(PAGE_ROWS), None).items]
    offer = opinions.public_offer(doctor_id)
    opinion = OpinionService(price_fen=offer.price_fen, available=offer.available,
                             specialties=offer.specialties) if offer else None
    return Services(consultation=consultation, sessions=sessions, second_opinion=opinion,
                    surgery_areas=referrals.public_surgery_areas(doctor_id))


def public_page(doctor_id: str) -> DoctorPage:
    from chalicelib.doctors import service as doctors

    d = doctors.get_verified(doctor_id)
    s = ranking.get_stats(doctor_id)
    return DoctorPage(
        doctor_id=d.doctor_id, name=d.name, title=d.title, hospital=d.hospital, department=d.department, city=d.city,
        specialties=list(d.specialties or []), bio=d.bio, score=_score(s), followers=int(s.followers or 0),
        mean_response_s=ranking.mean_response_s(s), services=_services(doctor_id),
        articles=articles.public_list(doctor_id, str(PAGE_ROWS), None).items,
        reviews=reviews.public_list(doctor_id, str(PAGE_ROWS), None).items,
        letters=letters.public_list(doctor_id, "3", None).items,
        share_path=f"/v1/doctors/{doctor_id}/page.html")


def _yuan(fen: int) -> str:
    return f"¥{fen / 100:.2f}"


def _when(ts: str | None) -> str:
    return ts[:16].replace("T", " ") if ts else ""


_CSS = """body{font-family:-apple-system,"PingFang SC","Noto Sans CJK SC",sans-serif;margin:0 auto;max-width:720px;
padding:16px;color:#222;line-height:1.6}h1{font-size:22px;margin:0}.meta{color:#666}.score{font-size:28px;color:#e67e22}
section{border-top:1px solid #eee;margin-top:16px}li{margin:6px 0}.reply{color:#555;margin-left:1em}
.tag{display:inline-block;background:#eef5ff;border-radius:4px;padding:0 6px;margin:2px}"""


def render_html(p: DoctorPage) -> str:
    """The shareable page. Every string a doctor or patient typed goes through ``escape``."""
    h = escape
    sv = p.services
    specialties = "".join(f"<span class=tag>{h(x)}</span>" for x in p.specialties)
    offers = []
    if sv.consultation:
        c = sv.consultation
        offers.append(f"<li>图文问诊 {h(_yuan(c.price_fen))} / {c.hours} 小时，{c.reply_deadline_hours} 小时内回复</li>")
    for x in sv.sessions:
        offers.append(f"<li>加号 {h(_when(x.starts_at))} {h(x.hospital)} {h(_yuan(x.fee_fen))}，余 {x.seats_left} 位</li>")
    if sv.second_opinion:
        offers.append(f"<li>二次诊疗 {h(_yuan(sv.second_opinion.price_fen))}</li>")
    if sv.surgery_areas:
        offers.append(f"<li>名医主刀：{h('、'.join(sv.surgery_areas))}</li>")
    arts = "".join(f"<li><b>{h(a.title)}</b><br>{h(a.excerpt)}</li>" for a in p.articles) or "<li>暂无</li>"
    revs = "".join(
        f"<li><b>{h(r.patient)}</b> · {h(KINDS.get(r.kind, r.kind))} · {r.overall:.1f} 分<br>{h(r.text or '')}"
        + (f"<div class=reply>医生回复：{h(r.reply)}</div>" if r.reply else "") + "</li>"
        for r in p.reviews) or "<li>暂无评价</li>"
    lets = "".join(f"<li><b>{h(x.patient)}</b>：{h(x.text)}</li>" for x in p.letters) or "<li>暂无</li>"
    response = f" · 平均 {p.mean_response_s // 60} 分钟回复" if p.mean_response_s is not None else ""
    return (
        "<!doctype html><html lang=zh-CN><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width,initial-scale=1'>"
        f"<title>{h(p.name)} · {h(p.hospital)}</title><style>{_CSS}</style></head><body>"
        f"<h1 id=doctor-name>{h(p.name)}</h1>"
        f"<p class=meta>{h(TITLES.get(p.title, p.title))} · {h(p.hospital)} {h(p.department)}</p>"
        f"<p>{specialties}</p><p id=bio>{h(p.bio or '')}</p>"
        f"<p><span class=score id=score>{p.score.score:.2f}</span> 分（{p.score.reviews} 条评价）"
        f" · {p.followers} 人关注{h(response)}</p>"
        f"<section><h2>服务</h2><ul>{''.join(offers) or '<li>暂无</li>'}</ul></section>"
        f"<section><h2>科普文章</h2><ul id=articles>{arts}</ul></section>"
        f"<section><h2>患者评价</h2><ul id=reviews>{revs}</ul>"
        "<p class=meta>评分为贝叶斯平均：10 条 4.0 分的先验评价加上全部真实评价；仅完成服务的患者可评价。</p></section>"
        f"<section><h2>感谢信</h2><ul id=letters>{lets}</ul></section>"
        "<p class=meta>本平台不接受任何形式的红包或心意。</p>"
        "</body></html>")


def page_html(doctor_id: str) -> str:
    return render_html(public_page(doctor_id))


def directory(sort: str, limit, cursor) -> Page:
    """One Query on the board + one BatchGetItem of names + one of the counter items."""
    from chalicelib.doctors import service as doctors

    page = query_page(BrandRank, BrandRank.query, sort, scan_index_forward=(sort != "rating"),
                      limit=parse_limit(limit), cursor=cursor)
    ids = [r.doctor_id for r in page.items]
    names = doctors.briefs(ids)
    stats = ranking.stats_of(ids)
    rows = []
    for i in ids:
        b, s = names.get(i), stats.get(i)
        if b is None or s is None:
            continue
        rows.append(RankedDoctor(doctor_id=i, name=b.name, title=b.title, hospital=b.hospital, department=b.department,
                                 score=ranking.score(s), reviews=int(s.reviews or 0),
                                 mean_response_s=ranking.mean_response_s(s),
                                 next_session_at=clock.iso(s.next_session_at)))
    return Page(rows, page.next_cursor)
