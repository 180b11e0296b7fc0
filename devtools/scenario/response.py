"""The partnership's response: call-ins, warnings (at call-ins, by notification, home visit and
letter), the sanctions that follow a warned group's violence, and everyday sanctions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from devtools.scenario.builder import Builder, Person
from devtools.scenario.local_time import END, rfc3339

__all__ = ["CALL_INS", "everyday_sanctions", "follow_through", "hold_call_ins", "warn_after_violence"]

# (call_in_id, when, location, invited)
CALL_INS: tuple[tuple[str, datetime, str, tuple[str, ...]], ...] = (
    ("ci-2018-03", datetime(2018, 3, 20, 14), "Malmö tingsrätt, sal 3",
     ("grp-korpen", "grp-falken", "grp-lejonen", "grp-stallinjen")),
    ("ci-2018-10", datetime(2018, 10, 16, 14), "Malmö rådhus, stora salen",
     ("grp-korpen", "grp-falken", "grp-vargarna", "grp-ormarna", "grp-ugglorna")),
    ("ci-2019-03", datetime(2019, 3, 19, 14), "Malmö tingsrätt, sal 3",
     ("grp-lejonen", "grp-stallinjen", "grp-vargarna", "grp-ormarna", "grp-hjortarna", "grp-kopparn")),
    ("ci-2019-09", datetime(2019, 9, 24, 13), "Malmö rådhus, stora salen",
     ("grp-korpen", "grp-falken", "grp-ugglorna", "grp-hjortarna", "grp-kopparn")),
    ("ci-2020-02", datetime(2020, 2, 18, 14), "Malmö tingsrätt, sal 1",
     ("grp-lejonen", "grp-vargarna", "grp-ormarna", "grp-tornet", "grp-hjortarna")),
    ("ci-2020-10", datetime(2020, 10, 13, 14), "Malmö rådhus, stora salen",
     ("grp-korpen", "grp-falken", "grp-stallinjen", "grp-ugglorna", "grp-tornet", "grp-kopparn")),
)

_LEVERS = ("arrest", "prosecution", "sentence_enforcement", "probation_action", "search", "asset_seizure",
           "tax_enforcement", "detention")


def hold_call_ins(b: Builder) -> None:
    rng = b.rng
    for call_in_id, when, location, invited in CALL_INS:
        b.emit("probation", "gvi.callin.scheduled.v1", b.after(when, -30, -16), {
            "call_in_id": call_in_id, "scheduled_for": rfc3339(when), "location": location,
            "invited_group_ids": list(invited)})
        attended: list[tuple[Person, str]] = []
        no_shows: list[tuple[Person, str]] = []
        for gid in invited:
            summoned = [p for p in b.members(gid, when) if p.probation][:5]
            if len(summoned) < 2:
                summoned += [p for p in b.members(gid, when) if not p.probation][: 3 - len(summoned)]
            for person in summoned:
                (attended if rng.random() < 0.78 else no_shows).append((person, gid))
        b.emit("probation", "gvi.callin.held.v1", when, {
            "call_in_id": call_in_id,
            "attended": [{"person_ref": p.ref, "group_id": g} for p, g in attended],
            "no_shows": [{"person_ref": p.ref, "group_id": g} for p, g in no_shows]})
        message_at = when + timedelta(minutes=40)
        for gid in invited:
            if any(g == gid for _, g in attended):
                _warn(b, "probation", message_at, gid, "call_in", None, call_in_id)
            else:  # nobody came: the message goes out by letter to the group
                _warn(b, "municipality", b.after(when, 2, 7), gid, "letter", None)
            b.emit("civil-society", "gvi.support.offered.v1", when + timedelta(hours=1, minutes=30),
                   {"group_id": gid, "service": "hotline"})
        for person, gid in attended:
            _warn(b, "probation", message_at + timedelta(minutes=rng.randint(1, 50)), gid, "call_in",
                  person, call_in_id)
            if rng.random() < 0.25:
                b.emit("civil-society", "gvi.support.offered.v1", when + timedelta(hours=2),
                       {"group_id": gid, "person_ref": person.ref, "service": "mentoring"})
        for person, gid in no_shows:
            _warn(b, "municipality", b.after(when, 3, 10), gid, "letter", person)
            if person.probation and rng.random() < 0.7:  # a missed meeting is a probation breach
                _sanction(b, "probation", b.after(when, 2, 15), "probation_action", gid, person)


def warn_after_violence(b: Builder) -> None:
    """Custom notifications and home visits after violence, from the start of the strategy."""
    rng = b.rng
    for incident in b.incidents:
        if incident.when < datetime(2018, 2, 15) or not incident.confirmed:
            continue
        for gid in incident.suspects:
            if rng.random() < 0.3:
                targets = b.members(gid, incident.when, probation=True)
                if targets:
                    _warn(b, "probation", b.after(incident.when, 1, 10), gid, "custom_notification",
                          b.pick_person(targets))
        if incident.killed + incident.injured > 0:
            for gid in incident.victims + incident.suspects:
                if rng.random() < 0.3:
                    targets = b.members(gid, incident.when)
                    if targets:
                        _warn(b, "municipality", b.after(incident.when, 2, 14), gid, "home_visit",
                              b.pick_person(targets))


# (agency, kind, min days, max days, needs a person)
_FOLLOW_UPS: tuple[tuple[str, str, float, float, bool], ...] = (
    ("police", "arrest", 0.5, 10, True),
    ("police", "search", 0.2, 6, False),
    ("police", "detention", 2, 12, True),
    ("police", "asset_seizure", 14, 60, False),
    ("prosecutor", "prosecution", 20, 75, True),
    ("probation", "probation_action", 3, 21, True),
    ("probation", "sentence_enforcement", 7, 40, True),
)


def follow_through(b: Builder) -> None:
    """Levers pulled against warned groups that were violent again (violations)."""
    rng = b.rng
    certainty = {2017: 0.0, 2018: 0.7, 2019: 0.85, 2020: 0.92}
    slowness = {2017: 1.0, 2018: 1.5, 2019: 1.0, 2020: 0.7}
    for incident in b.incidents:
        if not incident.confirmed:
            continue
        year = incident.when.year
        for gid in incident.suspects:
            warned = b.groups[gid].warned_at
            if warned is None or warned >= incident.when or rng.random() > certainty[year]:
                continue
            start = max(incident.when, incident.known_at.get(gid, incident.when))
            for agency, kind, low, high, personal in rng.sample(_FOLLOW_UPS, rng.randint(2, 5)):
                when = b.after(start, low * slowness[year], high * slowness[year])
                candidates = b.members(gid, when, probation=agency == "probation")
                member = b.pick_person(candidates) if candidates else None
                roll = rng.random()
                if member is not None and (personal or roll < 0.75):
                    target_group = gid if roll < 0.65 else None
                else:
                    target_group, member = gid, None
                incident_id = incident.incident_id if rng.random() < 0.85 else None
                _sanction(b, agency, when, kind, target_group, member, incident_id)


def everyday_sanctions(b: Builder) -> None:
    """Sanctions that follow no violation: ordinary policing, prosecution and probation work."""
    rng = b.rng
    kinds = (("police", "arrest", 5), ("police", "search", 3), ("police", "detention", 2),
             ("police", "asset_seizure", 1), ("prosecutor", "prosecution", 2),
             ("probation", "probation_action", 1), ("probation", "sentence_enforcement", 1))
    month = datetime(2017, 2, 1)
    while month < END:
        for _ in range(rng.randint(5, 9)):
            agency, kind, _weight = rng.choices(kinds, weights=[k[2] for k in kinds])[0]
            when = b.daytime(month + timedelta(days=rng.uniform(0, 27)), 6, 20)
            groups = b.active_groups(when)
            gid = b.pick([g.gid for g in groups])
            members = b.members(gid, when, probation=agency == "probation")
            if not members:
                continue
            person = b.pick_person(members)
            with_group = rng.random() < (0.3 if kind in ("arrest", "detention", "prosecution") else 0.6)
            _sanction(b, agency, when, kind, gid if with_group or person is None else None, person)
        month = (month + timedelta(days=32)).replace(day=1)


def _warn(b: Builder, agency: str, when: datetime, gid: str, channel: str, person: Person | None,
          call_in_id: str | None = None) -> str:
    data: dict[str, Any] = {"group_id": gid, "channel": channel}
    if person is not None:
        data["person_ref"] = person.ref
    if call_in_id is not None:
        data["call_in_id"] = call_in_id
    levers = b.rng.sample(_LEVERS, b.rng.randint(2, 5))
    data["promised_levers"] = [lever for lever in _LEVERS if lever in levers]
    group = b.groups[gid]
    if group.warned_at is None or when < group.warned_at:
        group.warned_at = when
    return b.emit(agency, "gvi.warning.delivered.v1", when, data)


def _sanction(b: Builder, agency: str, when: datetime, kind: str, gid: str | None,
              person: Person | None, incident_id: str | None = None) -> str | None:
    data: dict[str, Any] = {"kind": kind}
    if gid is not None:
        data["group_id"] = gid
    if person is not None:
        data["person_ref"] = person.ref
    if gid is None and person is None:
        return None
    if incident_id is not None:
        data["incident_id"] = incident_id
    return b.emit(agency, "gvi.sanction.recorded.v1", when, data)
