"""Doctor brand routes: the public page and directory, articles, reviews, followers, letters."""

from chalice import Response as HttpResponse

from chalicelib.core.errors import NotFound
from chalicelib.core.http import Api, Ctx, ListOf
from chalicelib.core.lazy import lazy_module

page = lazy_module("chalicelib.brand.page")
articles = lazy_module("chalicelib.brand.articles")
reviews = lazy_module("chalicelib.brand.reviews")
follows = lazy_module("chalicelib.brand.follows")
letters = lazy_module("chalicelib.brand.letters")

api = Api("brand")
PATIENT = ("patient",)
DOCTOR = ("doctor",)
ADMIN = ("admin",)
DOC = "/v1/doctors/{doctor_id}"


def _html(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body=body, status_code=status, headers={
        "Content-Type": "text/html; charset=utf-8", "Cache-Control": "public, max-age=60",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:",
        "X-Content-Type-Options": "nosniff"})


# --- public ----------------------------------------------------------------------------------

@api.route(DOC + "/page", "GET", auth=False, response="DoctorPage", errors=(404,),
           summary="A verified doctor's public page: profile, services with prices, articles, score, reviews, "
                   "letters (no login)")
def public_page(ctx: Ctx, doctor_id: str):
    return page.public_page(doctor_id)


@api.route(DOC + "/page.html", "GET", auth=False, produces="text/html", errors=(404,),
           summary="The doctor's public page as a shareable H5 page")
def public_page_html(ctx: Ctx, doctor_id: str):
    try:
        return _html(page.page_html(doctor_id))
    except NotFound:
        return _html("<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>医生主页不存在</title>"
                     "<p>医生主页不存在。</p></html>", status=404)


@api.route("/v1/brand/directory", "GET", auth=False, query="BoardQuery", response=ListOf("RankedDoctor"),
           summary="Verified doctors ranked by rating (Bayesian average), response time or availability; "
                   "see the sort parameter for how each order ranks")
def directory(ctx: Ctx):
    return page.directory(ctx.query.sort, ctx.query.limit, ctx.query.cursor)


@api.route(DOC + "/reviews", "GET", auth=False, query="ListQuery", response=ListOf("ReviewOut"), errors=(404,),
           summary="A doctor's shown reviews, newest first (patients masked)")
def doctor_reviews(ctx: Ctx, doctor_id: str):
    return reviews.public_list(doctor_id, ctx.query.limit, ctx.query.cursor)


@api.route(DOC + "/articles", "GET", auth=False, query="ListQuery", response=ListOf("ArticleRow"),
           summary="A doctor's published articles, newest first")
def doctor_articles(ctx: Ctx, doctor_id: str):
    return articles.public_list(doctor_id, ctx.query.limit, ctx.query.cursor)


@api.route(DOC + "/letters", "GET", auth=False, query="ListQuery", response=ListOf("LetterOut"),
           summary="A doctor's approved thank-you letters, newest first")
def doctor_letters(ctx: Ctx, doctor_id: str):
    return letters.public_list(doctor_id, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/articles/{article_id}", "GET", auth=False, response="ArticleOut", errors=(404,),
           summary="A published article (also what a follow-up plan's article item links)")
def get_article(ctx: Ctx, article_id: str):
    return articles.get_public(article_id)


# --- doctor ----------------------------------------------------------------------------------

@api.route("/v1/doctor/articles", "POST", roles=DOCTOR, request="ArticleIn", response="ArticleOut", status=201,
           errors=(404,), summary="Publish an article; followers see it as news")
def create_article(ctx: Ctx):
    return articles.create(ctx.caller, ctx.body)


@api.route("/v1/doctor/articles", "GET", roles=DOCTOR, query="ListQuery", response=ListOf("ArticleOut"),
           summary="The doctor's own articles, published and withdrawn")
def my_articles(ctx: Ctx):
    return articles.mine(ctx.caller, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/doctor/articles/{article_id}", "PATCH", roles=DOCTOR, request="ArticleUpdate",
           response="ArticleOut", errors=(404, 409), summary="Edit one of your published articles")
def update_article(ctx: Ctx, article_id: str):
    return articles.update(ctx.caller, article_id, ctx.body)


@api.route("/v1/doctor/articles/{article_id}", "DELETE", roles=DOCTOR, response="ArticleOut", errors=(404, 409),
           summary="Withdraw one of your articles (idempotent)")
def withdraw_article(ctx: Ctx, article_id: str):
    return articles.withdraw(ctx.caller, article_id)


@api.route("/v1/doctor/reviews/{review_id}/reply", "POST", roles=DOCTOR, request="ReplyIn", response="ReviewOut",
           errors=(404, 409), summary="Reply once to a review of you")
def reply(ctx: Ctx, review_id: str):
    return reviews.reply(ctx.caller, review_id, ctx.body.text)


@api.route("/v1/doctor/brand/stats", "GET", roles=DOCTOR, query="StatsQuery", response="BrandStatsOut",
           summary="Your followers, score, letters and per-day trends")
def my_stats(ctx: Ctx):
    return follows.doctor_stats(ctx.caller, ctx.query.days)


# --- patient ---------------------------------------------------------------------------------

@api.route("/v1/me/reviewables", "GET", roles=PATIENT, query="ListQuery", response=ListOf("Reviewable"),
           summary="Your completed services: each can be reviewed once within 30 days")
def reviewables(ctx: Ctx):
    return reviews.reviewables(ctx.caller, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/reviews", "POST", roles=PATIENT, request="ReviewIn", response="ReviewOut", status=201,
           errors=(404, 409, 422), summary="Review a completed service (once, within 30 days)")
def create_review(ctx: Ctx):
    return reviews.create(ctx.caller, ctx.body)


@api.route("/v1/reviews/{review_id}/report", "POST", roles=PATIENT, request="ReviewReportIn", response="ReviewOut",
           errors=(404,), summary="Report a review as fake, ghost-written, coerced or abusive (once per patient)")
def report_review(ctx: Ctx, review_id: str):
    return reviews.report(ctx.caller, review_id, ctx.body.reason, ctx.body.note)


@api.route(DOC + "/follow", "PUT", roles=PATIENT, response="FollowOut", errors=(404,),
           summary="Follow a doctor (idempotent)")
def follow(ctx: Ctx, doctor_id: str):
    return follows.follow(ctx.caller, doctor_id)


@api.route(DOC + "/follow", "DELETE", roles=PATIENT, response="FollowOut",
           summary="Unfollow a doctor (idempotent)")
def unfollow(ctx: Ctx, doctor_id: str):
    return follows.unfollow(ctx.caller, doctor_id)


@api.route("/v1/me/following", "GET", roles=PATIENT, query="ListQuery", response=ListOf("FollowingRow"),
           summary="Doctors you follow with their newest article and 加号 session (has_news until seen)")
def following(ctx: Ctx):
    return follows.following(ctx.caller, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/me/following/{doctor_id}/seen", "POST", roles=PATIENT, response="FollowOut", errors=(404,),
           summary="Mark a followed doctor's news as seen")
def seen(ctx: Ctx, doctor_id: str):
    return follows.seen(ctx.caller, doctor_id)


@api.route(DOC + "/letters", "POST", roles=PATIENT, request="LetterIn", response="AdminLetterOut", status=201,
           errors=(404, 422), summary="Write a thank-you letter (text only; shown after moderation; no gifts)")
def write_letter(ctx: Ctx, doctor_id: str):
    return letters.write(ctx.caller, doctor_id, ctx.body.text)


# --- operators -------------------------------------------------------------------------------

@api.route("/v1/admin/brand/reviews", "GET", roles=ADMIN, query="ReviewQueueQuery", response=ListOf("AdminReviewOut"),
           summary="Reviews with open reports")
def reported(ctx: Ctx):
    return reviews.reported_queue(ctx.query.limit, ctx.query.cursor)


@api.route("/v1/admin/brand/reviews/{review_id}", "GET", roles=ADMIN, response="AdminReviewOut", errors=(404,),
           summary="One review with its status and reports")
def admin_review(ctx: Ctx, review_id: str):
    return reviews.admin_get(review_id)


@api.route("/v1/admin/brand/reviews/{review_id}/fold", "POST", roles=ADMIN, request="FoldIn",
           response="AdminReviewOut", errors=(404, 409),
           summary="Fold a fake, ghost-written, coerced or abusive review (leaves the page and the score)")
def fold(ctx: Ctx, review_id: str):
    return reviews.fold(ctx.caller, review_id, ctx.body.reason)


@api.route("/v1/admin/brand/reviews/{review_id}/dismiss", "POST", roles=ADMIN, response="AdminReviewOut",
           errors=(404,), summary="Dismiss a review's reports (it stays shown)")
def dismiss(ctx: Ctx, review_id: str):
    return reviews.dismiss_reports(ctx.caller, review_id)


@api.route("/v1/admin/brand/letters", "GET", roles=ADMIN, query="LetterQueueQuery", response=ListOf("AdminLetterOut"),
           summary="Thank-you letters by status, oldest first (moderation queue)")
def letter_queue(ctx: Ctx):
    return letters.queue(ctx.query.status, ctx.query.limit, ctx.query.cursor)


@api.route("/v1/admin/brand/letters/{letter_id}/approve", "POST", roles=ADMIN, response="AdminLetterOut",
           errors=(404, 409), summary="Approve a letter: it shows on the doctor's page")
def approve_letter(ctx: Ctx, letter_id: str):
    return letters.approve(ctx.caller, letter_id)


@api.route("/v1/admin/brand/letters/{letter_id}/reject", "POST", roles=ADMIN, request="LetterReject",
           response="AdminLetterOut", errors=(404, 409), summary="Reject a letter with a reason")
def reject_letter(ctx: Ctx, letter_id: str):
    return letters.reject(ctx.caller, letter_id, ctx.body.reason)
