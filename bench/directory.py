"""The doctor directory at scale: items read and returned per search kind (budget ≤ 2 × page size).

``BENCH_DIRECTORY_DOCTORS`` verified doctors (default 20,000: at 100,000, next to the other
scenarios' data in one moto, a full run outgrew 24 GB; ``BENCH_DIRECTORY_DOCTORS=100000
python -m bench directory`` runs the issue's size alone; items read do not depend on it). A full directory is ~30 entries a
doctor (3 M items at 100,000): more than an in-process moto holds in memory (~10 KB an item). A
Query reads only its own key's items, so the bench stores, for every doctor, the entries under
the keys its searches Query — built by the directory's own ``entries`` (what verification writes)
— and those keys hold exactly what they would in the full directory: ``all`` holds every doctor.
Written with BatchWriteItem (25 a call); the seeding time is in the figures (``extra``): 132 s of
CPU for 100,000 doctors (208,511 entries). moto walks the whole table on every Query (~1.5 s at
this size, DynamoDB reads only the key), so the 14 searches take ~5 min more; set
``BENCH_DIRECTORY_DOCTORS`` lower for a quick run — items read do not depend on it.

Each search kind is its own scenario. A key-only search (``q`` of ≤ 5 characters alone, hospital,
hospital + department, department, city, specialty, none) returns what it reads; a filter on top
of the key (``q`` with another filter, hospital or department with city, ``q`` longer than the
keyed 5 characters, specialty with anything else) returns the matches among the page it read, so
a page can be short or empty with a ``next_cursor``: each request still reads at most its page.
"""

import os
import random
import time

from bench.harness import Scenario

LIMIT = 20
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
HOSPITALS = {f"{c}第{i}人民医院": c for i, c in enumerate(["北京", "上海", "广州", "成都", "武汉"] * 8)}
DEPARTMENTS = ["心内科", "骨科", "内分泌科", "儿科", "神经内科", "消化内科", "呼吸科", "肾内科"]
SPECIALTIES = ["高血压", "冠心病", "糖尿病", "骨折", "哮喘", "肾炎", "胃炎", "癫痫", "甲亢", "关节置换"]
KEYED = {  # key-only searches: items read = items returned (a full page while the key lasts)
    "q=王 (name prefix)": "q=王", "q=王建": "q=王建", "q=冠心 (specialty prefix)": "q=冠心",
    "hospital": "hospital=上海第1人民医院", "hospital + department": "hospital=北京第0人民医院&department=儿科",
    "department": "department=骨科", "city": "city=成都", "specialty": "specialty=哮喘", "no filter": "",
}
FILTERED = {  # a filter on top of one key: the matches among one page of the key
    "q=王 + city": "q=王&city=成都", "q=李 + hospital": "q=李&hospital=上海第1人民医院",
    "department + city": "department=骨科&city=北京", "specialty + city": "specialty=哮喘&city=武汉",
    "q=北京第0人民 (6 characters)": "q=北京第0人民",
}
_state: dict = {}


def _params(search: str) -> dict:
    return dict(p.split("=", 1) for p in search.split("&") if p)


def _doctor(i: int, rnd: random.Random, hospitals: list[str]):
    """Doctor i, its attributes drawn independently (a fixed seed: the same directory every run)."""
    from chalicelib.core import clock
    from chalicelib.doctors.models import Doctor

    h = rnd.choice(hospitals)
    return Doctor(f"D{i:07d}", name=f"{rnd.choice(SURNAMES)}{rnd.choice('建国秀英伟芳明华')}{i % 97}", hospital=h,
                  department=rnd.choice(DEPARTMENTS), city=HOSPITALS[h], title="attending",
                  specialties=rnd.sample(SPECIALTIES, 2), status="verified", applied_at=clock.now())


def _seed(env):
    if _state:
        return _state
    from chalicelib.doctors import directory
    from chalicelib.doctors.models import DirectoryEntry

    n = int(os.environ.get("BENCH_DIRECTORY_DOCTORS", "20000"))
    searched = {directory.plan(**{k: _params(s).get(k) for k in ("q", "hospital", "department", "city",
                                                                 "specialty")})[0]
                for s in [*KEYED.values(), *FILTERED.values()]}
    hospitals, rnd = list(HOSPITALS), random.Random(19)
    cpu, wall, stored = time.process_time(), time.perf_counter(), 0
    with DirectoryEntry.batch_write() as batch:
        for i in range(n):
            for e in directory.entries(_doctor(i, rnd, hospitals)):
                if e.key in searched:
                    batch.save(e)
                    stored += 1
    _state.update(n=n, keys=sorted(searched), entries_stored=stored,
                  seed_cpu_s=round(time.process_time() - cpu, 1), seed_wall_s=round(time.perf_counter() - wall, 1))
    return _state


def _search(search: str):
    def run(env, st):
        return env.api.get(f"/v1/doctors?{search}{'&' if search else ''}limit={LIMIT}").status
    return run


def _figures(st: dict) -> dict:
    return {k: st[k] for k in ("n", "entries_stored", "seed_cpu_s", "seed_wall_s")}


SCENARIOS = [
    Scenario(f"GET /v1/doctors directory {kind} ({os.environ.get('BENCH_DIRECTORY_DOCTORS', '20000')} doctors)",
             {"Query": 1, "total": 1}, _seed, _search(search), iterations=3, items_budget=2 * LIMIT, extra=_figures)
    for kind, search in [*KEYED.items(), *FILTERED.items()]
]
