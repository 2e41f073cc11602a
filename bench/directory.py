"""The doctor directory at scale: items read per search (budget ≤ 2 × page size).

Seeds ``BENCH_DIRECTORY_DOCTORS`` verified doctors (default 5,000; the issue's 100,000 needs
~2.5 M entries, more than an in-process moto holds comfortably) with the directory's own entry
builder, written in batches (verification writes the same entries in its transaction). A search
Queries one key, so what it reads does not grow with the directory — only with the page.
"""

import os

from bench.harness import Scenario

LIMIT = 20
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
HOSPITALS = {f"{c}第{i}人民医院": c for i, c in enumerate(["北京", "上海", "广州", "成都", "武汉"] * 8)}
DEPARTMENTS = ["心内科", "骨科", "内分泌科", "儿科", "神经内科", "消化内科", "呼吸科", "肾内科"]
SPECIALTIES = ["高血压", "冠心病", "糖尿病", "骨折", "哮喘", "肾炎", "胃炎", "癫痫", "甲亢", "关节置换"]
SEARCHES = ["/v1/doctors?q=王", "/v1/doctors?q=王建", "/v1/doctors?q=冠心", "/v1/doctors?hospital=上海第1人民医院",
            "/v1/doctors?hospital=北京第0人民医院&department=儿科", "/v1/doctors?department=骨科",
            "/v1/doctors?city=成都", "/v1/doctors?specialty=哮喘", "/v1/doctors"]
_state: dict = {"i": 0}


def _seed(env):
    from chalicelib.core import clock
    from chalicelib.core.ids import new_id
    from chalicelib.doctors import directory
    from chalicelib.doctors.models import DirectoryEntry, Doctor

    n = int(os.environ.get("BENCH_DIRECTORY_DOCTORS", "5000"))
    hospitals = list(HOSPITALS)
    with DirectoryEntry.batch_write() as batch:
        for i in range(n):
            h = hospitals[i % len(hospitals)]
            d = Doctor(new_id(), name=f"{SURNAMES[i % 20]}{'建国秀英伟芳明华'[i % 8]}{i % 97}", hospital=h,
                       department=DEPARTMENTS[i % 8], city=HOSPITALS[h], title="attending",
                       specialties=[SPECIALTIES[i % 10], SPECIALTIES[(i // 10) % 10]], status="verified",
                       applied_at=clock.now())
            for e in directory.entries(d):
                batch.save(e)
    _state["n"] = n
    return _state


def _search(env, st):
    url = SEARCHES[st["i"] % len(SEARCHES)]
    st["i"] += 1
    return env.api.get(f"{url}{'&' if '?' in url else '?'}limit={LIMIT}").status


SCENARIOS = [
    Scenario("GET /v1/doctors (search, large directory)", {"Query": 1, "total": 1}, _seed, _search,
             iterations=len(SEARCHES) * 3, items_budget=2 * LIMIT),
]
