"""The groups: registered by the group audit, their conflicts and alliances, the members the police
assess (renewed at review or lapsing) and the conflicts a mediation ends."""

from __future__ import annotations

from datetime import datetime, timedelta

from devtools.scenario.builder import Builder, Group, Person
from devtools.scenario.local_time import END, rfc3339

__all__ = ["add_people", "assess_memberships", "end_relations", "register_groups"]

# (group_id, name, area, registered, heat)
_GROUPS: tuple[tuple[str, str, str, datetime, float], ...] = (
    ("grp-korpen", "Svarta Korpen", "Rosengård", datetime(2017, 1, 16, 10), 1.6),
    ("grp-falken", "Blå Falken", "Rosengård", datetime(2017, 1, 16, 11), 1.4),
    ("grp-lejonen", "Röda Lejonen", "Seved", datetime(2017, 1, 23, 10), 1.5),
    ("grp-vargarna", "Gröna Vargarna", "Holma", datetime(2017, 1, 30, 13), 1.0),
    ("grp-ormarna", "Gula Ormarna", "Lindängen", datetime(2017, 2, 6, 9), 1.1),
    ("grp-ugglorna", "Grå Ugglorna", "Hermodsdal", datetime(2017, 2, 13, 14), 0.8),
    ("grp-stallinjen", "Stållinjen", "Möllevången", datetime(2017, 2, 20, 10), 1.0),
    ("grp-kopparn", "Kopparnätverket", "Kroksbäck", datetime(2017, 3, 6, 11), 0.7),
    ("grp-hjortarna", "Vita Hjortarna", "Nydala", datetime(2018, 5, 14, 10), 0.9),
    ("grp-tornet", "Tornligan", "Södra Sofielund", datetime(2019, 4, 8, 9), 1.2),
)

# (group, other, relation, recorded)
_RELATIONS: tuple[tuple[str, str, str, datetime], ...] = (
    ("grp-korpen", "grp-falken", "conflict", datetime(2017, 2, 2, 15)),
    ("grp-lejonen", "grp-stallinjen", "conflict", datetime(2017, 3, 1, 11)),
    ("grp-vargarna", "grp-ormarna", "conflict", datetime(2017, 3, 8, 10)),
    ("grp-korpen", "grp-kopparn", "alliance", datetime(2017, 3, 15, 14)),
    ("grp-ormarna", "grp-stallinjen", "alliance", datetime(2017, 4, 5, 9)),
    ("grp-falken", "grp-lejonen", "alliance", datetime(2017, 5, 10, 13)),
    ("grp-ugglorna", "grp-vargarna", "alliance", datetime(2017, 6, 1, 10)),
    ("grp-ugglorna", "grp-ormarna", "conflict", datetime(2018, 1, 24, 16)),
    ("grp-kopparn", "grp-vargarna", "conflict", datetime(2018, 4, 11, 10)),
    ("grp-hjortarna", "grp-lejonen", "conflict", datetime(2018, 9, 3, 11)),
    ("grp-ugglorna", "grp-vargarna", "conflict", datetime(2019, 2, 12, 14)),
    ("grp-tornet", "grp-korpen", "conflict", datetime(2019, 6, 17, 10)),
    ("grp-tornet", "grp-hjortarna", "alliance", datetime(2019, 8, 20, 13)),
)

_EVIDENCE = (
    "Observed with assessed members on {n} documented occasions; group audit {month}.",
    "Co-suspect with assessed members in {n} investigations; group audit {month}.",
    "Named as part of the group in intercepted communications, corroborated by surveillance ({month}).",
    "Displays the group's symbols on social media; confirmed by the area's field officers ({month}).",
    "Information from {n} independent sources, corroborated by the community police ({month}).",
)
_RENEWAL_EVIDENCE = (
    "Reviewed {month}: continued association documented since the previous assessment.",
    "Reviewed {month}: still seen with assessed members on {n} occasions; assessment renewed.",
    "Reviewed {month}: co-suspect with assessed members in {n} new investigations.",
)


_ENDED: tuple[tuple[str, str, datetime], ...] = (
    ("grp-vargarna", "grp-ormarna", datetime(2020, 11, 16, 10)),
)
"""Conflicts a mediation ended late in the story (told last, so the earlier events keep their ids;
the story's violence does not know of them, as a flare-up after a mediation would not)."""


def register_groups(b: Builder) -> None:
    for gid, name, area, registered, heat in _GROUPS:
        b.groups[gid] = Group(gid, name, area, registered, heat)
        b.emit("police", "gvi.group.registered.v1", registered,
               {"group_id": gid, "name": name, "area": area})
    for gid, other, relation, recorded in _RELATIONS:
        b.emit("police", "gvi.group.relation.recorded.v1", recorded,
               {"group_id": gid, "other_group_id": other, "relation": relation})
        for a, c in ((gid, other), (other, gid)):
            for table in (b.enemies, b.allies):  # a later record replaces an earlier relation
                table[a] = [(x, since) for x, since in table.get(a, []) if x != c]
            (b.enemies if relation == "conflict" else b.allies).setdefault(a, []).append((c, recorded))


def add_people(b: Builder) -> None:
    rng = b.rng
    for group in b.groups.values():
        joins = [b.after(group.registered, 0, 35) for _ in range(rng.randint(11, 17))]
        day = group.registered + timedelta(days=60)
        while day < datetime(2020, 10, 1):
            day += timedelta(days=rng.uniform(45, 130))
            joins.append(b.daytime(day))
        for joined in sorted(joins):
            b.persons.append(Person(b.new_ref(), group.gid, rng.random() < 0.4, joined))
    # About thirty members leave through the exit programme (decided here, so that their assessments
    # are not renewed after they have left).
    candidates = [p for p in b.persons if p.joined < datetime(2020, 3, 1)]
    for person in rng.sample(candidates, 32):
        earliest = max(datetime(2018, 5, 1), person.joined + timedelta(days=90))
        span = (datetime(2020, 11, 15) - earliest).days
        if span > 30:
            person.exit_at = b.daytime(earliest + timedelta(days=rng.uniform(0, span)))


def assess_memberships(b: Builder) -> None:
    rng = b.rng
    for person in b.persons:
        assessed = person.joined
        valid_from = datetime(assessed.year, assessed.month, assessed.day)
        renewal = False
        while True:
            valid_until = valid_from + timedelta(days=365 if rng.random() < 0.85 else 182)
            month = f"{assessed.year}-{assessed.month:02d}"
            template = b.pick(_RENEWAL_EVIDENCE if renewal else _EVIDENCE)
            b.emit("police", "gvi.membership.assessed.v1", assessed, {
                "person_ref": person.ref,
                "group_id": person.gid,
                "valid_from": rfc3339(valid_from),
                "valid_until": rfc3339(valid_until),
                "evidence": template.format(n=rng.randint(2, 7), month=month),
                "source_grade": rng.choices("ABCDE", weights=(2, 6, 5, 2, 1))[0],
            })
            person.periods.append((valid_from, valid_until))
            review = valid_until - timedelta(days=rng.uniform(4, 25))
            if review >= END or rng.random() > 0.72:
                break  # not renewed: the assessment lapses
            if person.exit_at is not None and person.exit_at < valid_until:
                break
            assessed = b.daytime(review)
            valid_from = valid_until
            renewal = True


def end_relations(b: Builder) -> None:
    for gid, other, ended in _ENDED:
        b.emit("police", "gvi.group.relation.ended.v1", ended, {"group_id": gid, "other_group_id": other})
