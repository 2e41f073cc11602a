"""Articles (patient education) a verified doctor writes: published at once, edited, withdrawn.
Followers see the newest one on their following list (``follows.py``); a follow-up plan's article
item links one by ``article_id`` and opens it at ``/v1/articles/{article_id}``."""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import clock
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.ids import new_id
from chalicelib.core.outbox import emit
from chalicelib.core.pagination import Page, parse_limit, query_page

from . import ranking
from .models import Article
from .schemas import ArticleIn, ArticleOut, ArticleRow, ArticleUpdate


def path_of(article_id: str) -> str:
    return f"/v1/articles/{article_id}"


def article_out(a: Article) -> ArticleOut:
    return ArticleOut(article_id=a.article_id, doctor_id=a.doctor_id, title=a.title, body=a.body,
                      images=list(a.images or []), status=a.status, published_at=clock.iso(a.published_at),
                      updated_at=clock.iso(a.updated_at), path=path_of(a.article_id))


def article_row(a: Article) -> ArticleRow:
    return ArticleRow(article_id=a.article_id, title=a.title, excerpt=a.body[:120],
                      published_at=clock.iso(a.published_at))


def _list_key(status: str, a: Article) -> str:
    return f"{status}#{a.published_at.isoformat()}#{a.article_id}"


def create(caller, body: ArticleIn) -> ArticleOut:
    from chalicelib.doctors import service as doctors

    doctors.get_verified(caller.account_id)
    now = clock.now()
    a = Article(new_id(), doctor_id=caller.account_id, title=body.title, body=body.body, images=body.images,
                status="published", published_at=now, updated_at=now, list_key="")
    a.list_key = _list_key("published", a)

    def extra(tx):
        tx.save(a, condition=Article.article_id.does_not_exist())
        emit(tx, "brand.article_published", {"article_id": a.article_id, "doctor_id": a.doctor_id})

    ranking.change(caller.account_id, lambda s: {
        "articles": int(s.articles or 0) + 1, "last_article_id": a.article_id, "last_article_title": a.title,
        "last_article_at": now}, extra)
    return article_out(a)


def _own(caller, article_id: str) -> Article:
    try:
        a = Article.get(article_id, consistent_read=True)
    except Article.DoesNotExist:
        raise NotFound("article not found")
    if a.doctor_id != caller.account_id:
        raise NotFound("article not found")
    return a


def update(caller, article_id: str, body: ArticleUpdate) -> ArticleOut:
    a = _own(caller, article_id)
    if a.status != "published":
        raise Conflict("a withdrawn article cannot be edited", code="invalid_state")
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    actions = [getattr(Article, k).set(v) for k, v in changes.items()]
    actions.append(Article.updated_at.set(clock.now()))
    a.update(actions=actions, condition=Article.status == "published")
    return article_out(a)


def withdraw(caller, article_id: str) -> ArticleOut:
    a = _own(caller, article_id)
    if a.status != "published":
        return article_out(a)

    def extra(tx):
        tx.update(Article(article_id), actions=[Article.status.set("withdrawn"),
                                                Article.list_key.set(_list_key("withdrawn", a))],
                  condition=Article.status == "published")

    def fields(s):
        out: dict = {"articles": max(int(s.articles or 0) - 1, 0)}
        if s.last_article_id == article_id:
            out.update(last_article_id=None, last_article_title=None, last_article_at=None)
        return out

    try:
        ranking.change(caller.account_id, fields, extra)
    except TransactWriteError:
        raise Conflict("the article changed meanwhile", code="invalid_state")
    return article_out(_own(caller, article_id))


def get_public(article_id: str) -> ArticleOut:
    try:
        a = Article.get(article_id)
    except Article.DoesNotExist:
        raise NotFound("article not found")
    if a.status != "published":
        raise NotFound("article not found")
    return article_out(a)


def exists_published(article_id: str, doctor_id: str | None = None) -> bool:
    """For other domains (follow-up plans link articles): a published article, by that doctor."""
    try:
        a = Article.get(article_id)
    except Article.DoesNotExist:
        return False
    return a.status == "published" and (doctor_id is None or a.doctor_id == doctor_id)


def public_list(doctor_id: str, limit, cursor) -> Page:
    page = query_page(Article, Article.by_doctor.query, doctor_id, Article.list_key.startswith("published#"),
                      scan_index_forward=False, limit=parse_limit(limit), cursor=cursor)
    return Page([article_row(a) for a in page.items], page.next_cursor)


def mine(caller, limit, cursor) -> Page:
    page = query_page(Article, Article.by_doctor.query, caller.account_id, scan_index_forward=False,
                      limit=parse_limit(limit), cursor=cursor)
    return Page([article_out(a) for a in page.items], page.next_cursor)
