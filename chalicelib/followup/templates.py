"""Plan templates: a doctor's own, shared with the department, and the seeded library.

Version 0 of a template is its head; every edit writes version ``latest + 1`` and moves the
head in one conditional transaction. Plans pin a version and keep a copy of its items, so an
edit never changes a plan already assigned.
"""

from __future__ import annotations

from pynamodb.exceptions import TransactWriteError

from chalicelib.core import clock
from chalicelib.core.errors import Conflict, NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.core.outbox import transaction
from chalicelib.core.pagination import Page, parse_limit, query_page

from .library import LIBRARY
from .models import Template
from .schemas import TemplateIn, TemplateOut, TemplateSummary

LIBRARY_OWNER = "library"


def _doctor(doctor_id: str):
    from chalicelib.doctors import service as doctors

    return doctors.get_verified(doctor_id)


def dept_key(hospital: str, department: str) -> str:
    return f"dept#{hospital}#{department}"


def _caller_dept(caller) -> str:
    d = _doctor(caller.account_id)
    return dept_key(d.hospital, d.department)


def summary(head: Template) -> TemplateSummary:
    return TemplateSummary(template_id=head.template_id, version=int(head.latest), name=head.name,
                           anchor_type=head.anchor_type, owner_id=head.owner_id, shared=head.share_key is not None,
                           item_count=len(head.items or []), updated_at=clock.iso(head.updated_at))


def template_out(head: Template, version: Template) -> TemplateOut:
    return TemplateOut(**summary(head).model_dump() | {"version": int(version.version)}, description=version.description,
                       items=version.items)


def _check_articles(body: TemplateIn) -> None:
    """A linked article must be published (the doctor's page and the plan open the same one)."""
    from chalicelib.brand import service as brand

    for i in body.items:
        if i.article and i.article.article_id and not brand.articles.exists_published(i.article.article_id):
            raise Unprocessable(f"item {i.item_id}: no published article {i.article.article_id}",
                                code="article_not_found")


def _items(body: TemplateIn) -> list[dict]:
    _check_articles(body)
    return [i.model_dump(mode="json", exclude_none=True) for i in body.items]


def _write(template_id: str, owner_id: str, share_key: str | None, body: TemplateIn, version: int,
           head: Template | None) -> tuple[Template, Template]:
    now = clock.now()
    items = _items(body)
    snap = Template(template_id, version, latest=version, owner_id=owner_id, name=body.name,
                    anchor_type=body.anchor_type, description=body.description, items=items,
                    created_at=now, updated_at=now)
    new_head = Template(template_id, 0, latest=version, owner_id=owner_id,
                        owner_key=None if owner_id == LIBRARY_OWNER else owner_id, share_key=share_key,
                        name=body.name, anchor_type=body.anchor_type, description=body.description, items=items,
                        created_at=head.created_at if head else now, updated_at=now)
    try:
        with transaction() as tx:
            tx.save(snap, condition=Template.version.does_not_exist())
            tx.save(new_head, condition=(Template.latest == version - 1) if head else Template.version.does_not_exist())
    except TransactWriteError:
        raise Conflict("the template changed meanwhile, reload and retry", code="template_changed")
    return new_head, snap


def create(caller, body: TemplateIn) -> TemplateOut:
    share = _caller_dept(caller) if body.share_with_department else None
    head, snap = _write(new_id(), caller.account_id, share, body, 1, None)
    return template_out(head, snap)


def _head(template_id: str) -> Template:
    try:
        return Template.get(template_id, 0)
    except Template.DoesNotExist:
        raise NotFound("template not found")


def readable(caller, template_id: str) -> Template:
    """The head of a template the doctor may use: their own, their department's, the library."""
    head = _head(template_id)
    if head.owner_id == caller.account_id or head.share_key == LIBRARY_OWNER:
        return head
    if head.share_key and head.share_key == _caller_dept(caller):
        return head
    raise NotFound("template not found")


def version_of(head: Template, version: int | None) -> Template:
    if version is None or version == int(head.latest):
        return Template(head.template_id, int(head.latest), items=head.items, name=head.name,
                        anchor_type=head.anchor_type, description=head.description, owner_id=head.owner_id,
                        created_at=head.updated_at, updated_at=head.updated_at)
    try:
        return Template.get(head.template_id, version)
    except Template.DoesNotExist:
        raise NotFound("template version not found")


def get(caller, template_id: str, version: int | None) -> TemplateOut:
    head = readable(caller, template_id)
    return template_out(head, version_of(head, version))


def update(caller, template_id: str, body: TemplateIn) -> TemplateOut:
    head = _head(template_id)
    if head.owner_id != caller.account_id:
        raise NotFound("template not found")
    share = _caller_dept(caller) if body.share_with_department else None
    head, snap = _write(template_id, caller.account_id, share, body, int(head.latest) + 1, head)
    return template_out(head, snap)


def listing(caller, scope: str, limit, cursor) -> Page:
    limit = parse_limit(limit)
    if scope == "mine":
        page = query_page(Template, Template.by_owner.query, caller.account_id, limit=limit, cursor=cursor)
    else:
        key = LIBRARY_OWNER if scope == "library" else _caller_dept(caller)
        page = query_page(Template, Template.shared.query, key, limit=limit, cursor=cursor)
    return Page([summary(t) for t in page.items], page.next_cursor)


def seed_library() -> list[str]:
    """Store the library templates through the same write path (idempotent)."""
    made = []
    for template_id, raw in LIBRARY.items():
        try:
            Template.get(template_id, 0)
            continue
        except Template.DoesNotExist:
            pass
        body = TemplateIn.model_validate(raw)
        try:
            _write(template_id, LIBRARY_OWNER, LIBRARY_OWNER, body, 1, None)
        except Conflict:
            continue
        made.append(template_id)
    return made
