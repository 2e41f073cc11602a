"""The public directory: search keys per verified doctor, and searches that read what they return.

Every search is one Query on one key of :class:`DirectoryEntry`, chosen from the filters:
``q`` (a prefix of a name, hospital, department, city or specialty) → ``t#<q>``;
hospital + department → ``hd#…``; hospital → ``h#…``; department → ``d#…``; city → ``c#…``;
specialty → ``s#…``; nothing → ``all``. A search reads about what it returns; only a second
filter on top of the chosen key (e.g. ``q`` with ``city``) filters the key's items, and ``q``
longer than the keyed prefix filters the prefix's items.
"""

from __future__ import annotations

from .models import DirectoryEntry, Doctor

PREFIX_MAX = 5  # prefix keys per term: 1..5 characters (Chinese names and places are 2–6 characters)
SPECIALTIES_KEYED = 4  # the first specialties get keys; all of them are on the card and in the text


def search_text(d: Doctor) -> str:
    return " ".join([d.name, d.hospital, d.department, d.city or "", *(d.specialties or [])]).lower()


def _prefixes(term: str) -> set[str]:
    term = term.strip().lower()
    return {term[:n] for n in range(1, min(len(term), PREFIX_MAX) + 1)}


def keys(d: Doctor) -> set[str]:
    specialties = [s for s in (d.specialties or [])][:SPECIALTIES_KEYED]
    out = {"all", f"h#{d.hospital}", f"d#{d.department}", f"hd#{d.hospital}#{d.department}",
           *(f"s#{s}" for s in specialties)}
    if d.city:
        out.add(f"c#{d.city}")
    for term in [d.name, d.hospital, d.department, d.city or "", *specialties]:
        out |= {f"t#{p}" for p in _prefixes(term)}
    return out


def entries(d: Doctor) -> list[DirectoryEntry]:
    text = search_text(d)
    return [DirectoryEntry(k, d.doctor_id, name=d.name, hospital=d.hospital, department=d.department, city=d.city,
                           title=d.title, specialties=list(d.specialties or []), search_text=text)
            for k in sorted(keys(d))]


def write(tx, before: Doctor | None, after: Doctor) -> None:
    """Inside the caller's transaction: the doctor's entries as ``after`` (stale keys deleted)."""
    for k in sorted(keys(before) - keys(after)) if before else []:
        tx.delete(DirectoryEntry(k, after.doctor_id))
    for e in entries(after):
        tx.save(e)


def plan(q: str | None, hospital: str | None, department: str | None, city: str | None,
         specialty: str | None) -> tuple[str, object | None]:
    """(the key to Query, a filter for what the key does not already select)."""
    conds = []
    if q:
        q = q.strip().lower()
        key = f"t#{q[:PREFIX_MAX]}"
        if len(q) > PREFIX_MAX:
            conds.append(DirectoryEntry.search_text.contains(q))
        rest = {"hospital": hospital, "department": department, "city": city}
    elif hospital and department:
        key, rest = f"hd#{hospital}#{department}", {"city": city}
    elif hospital:
        key, rest = f"h#{hospital}", {"city": city}
    elif department:
        key, rest = f"d#{department}", {"city": city}
    elif city:
        key, rest = f"c#{city}", {}
    elif specialty:
        key, rest, specialty = f"s#{specialty}", {}, None
    else:
        key, rest = "all", {}
    for attr, value in rest.items():
        if value:
            conds.append(getattr(DirectoryEntry, attr) == value)
    if specialty:
        conds.append(DirectoryEntry.specialties.contains(specialty))
    cond = None
    for c in conds:
        cond = c if cond is None else cond & c
    return key, cond
