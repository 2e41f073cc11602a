"""Doctor brand: the domain's one public face. Routes, other domains and tests import from here;
the rules live in modules named for what they hold:

- ``page``      the public page (JSON and H5) and the ranked directory
- ``articles``  patient education the doctor writes (linkable from follow-up plans)
- ``reviews``   rights to review from completed care, reviews, reports, folding, replies
- ``care``      the other domains' events that record completed care, response times, 加号 news
- ``follows``   follow / unfollow, the following list, the doctor's counts and trends
- ``letters``   thank-you letters (text only, moderated; never money)
- ``ranking``   the counter item, the Bayesian score, the directory boards, per-day counters

Importing this module registers every brand consumer.
"""

from __future__ import annotations

from . import articles, care, follows, letters, page, ranking, reviews  # noqa: F401

__all__ = ["articles", "care", "follows", "letters", "page", "ranking", "reviews"]
