"""Support: the exit programme (v1 milestones, then v2 from 2020) and offers to members who stay."""

from __future__ import annotations

from datetime import datetime, timedelta

from devtools.scenario.builder import Builder
from devtools.scenario.local_time import END

__all__ = ["MILESTONE_V2_FROM", "offer_support"]

MILESTONE_V2_FROM = datetime(2020, 1, 1)
"""From when the municipality posts exit milestones as `gvi.exit.milestone.v2`."""
_MILESTONE_OF = {"exit programme intake": "intake", "housing": "housing", "relocation": "left_area",
                 "work": "work_or_studies", "education": "work_or_studies", "debt counselling": "plan_agreed",
                 "exit programme completed": "completed"}
"""The v2 milestone for each free-text step the scenario posted in v1."""
_SERVICES = ("housing", "work", "education", "relocation", "debt counselling", "mentoring")


def offer_support(b: Builder) -> None:
    rng = b.rng
    # The exit programme.
    for person in b.persons:
        if person.exit_at is None:
            continue
        offered_by = "municipality" if rng.random() < 0.6 else "civil-society"
        offer = b.after(person.exit_at, -90, -30)
        first = "hotline" if offered_by == "civil-society" else b.pick(("housing", "work", "relocation"))
        b.emit(offered_by, "gvi.support.offered.v1", offer,
               {"group_id": person.gid, "person_ref": person.ref, "service": first})
        b.emit(offered_by, "gvi.support.accepted.v1", b.after(person.exit_at, -25, -5),
               {"group_id": person.gid, "person_ref": person.ref, "service": first})
        step = person.exit_at
        steps = ["exit programme intake", *rng.sample(
            ["housing", "relocation", "work", "education", "debt counselling"], rng.randint(1, 3))]
        if rng.random() < 0.4:
            steps.append("exit programme completed")
        if step >= MILESTONE_V2_FROM:
            b.emit("municipality", "gvi.exit.milestone.v2", step,
                   {"group_id": person.gid, "person_ref": person.ref, "milestone": "left_group"})
        for service in steps:
            if step >= MILESTONE_V2_FROM:
                b.emit("municipality", "gvi.exit.milestone.v2", step,
                       {"group_id": person.gid, "person_ref": person.ref,
                        "milestone": _MILESTONE_OF[service], "service": service})
            else:
                b.emit("municipality", "gvi.exit.milestone.v1", step,
                       {"group_id": person.gid, "person_ref": person.ref, "service": service})
            step = b.after(step, 20, 100)
    # Offers to members who do not (yet) leave.
    day = datetime(2018, 3, 1)
    while day < END:
        day += timedelta(days=rng.uniform(3, 14))
        agency = "municipality" if rng.random() < 0.55 else "civil-society"
        when = b.daytime(day)
        gid = b.pick([g.gid for g in b.active_groups(when)])
        members = b.members(gid, when)
        if not members:
            continue
        service = b.pick(_SERVICES if agency == "municipality" else ("hotline", "mentoring", "work"))
        data = {"group_id": gid, "person_ref": b.pick_person(members).ref, "service": service}
        b.emit(agency, "gvi.support.offered.v1", when, data)
        if rng.random() < 0.3:
            b.emit(agency, "gvi.support.accepted.v1", b.after(when, 2, 30), data)
