"""The violence: incidents of every kind, shaped after the published Malmö figures, who really did
them, and the incident reviews that find, correct or unconfirm the suspects weeks later."""

from __future__ import annotations

from datetime import datetime, timedelta

from devtools.scenario.builder import Builder, Incident
from devtools.scenario.response import CALL_INS
from services.contracts import RETRACTION_TYPE

__all__ = ["report_incidents"]

_OTHER_AREAS = ("Kroksbäck", "Nydala", "Södra Sofielund", "Fosie", "Oxie", "Centrum", "Västra hamnen",
                "Kirseberg", "Husie", "Bellevue")

# Yearly incidents by kind, shaped after the published Malmö figures (shootings 65/47/34/20, explosions
# 58/45/29 up to November 2019), and the people killed, injured and unharmed in shootings.
_INCIDENTS_PER_YEAR: dict[int, dict[str, int]] = {
    2017: {"shooting": 65, "explosion": 58, "homicide": 3, "attempted_homicide": 9,
           "aggravated_assault": 22, "arson": 12},
    2018: {"shooting": 47, "explosion": 45, "homicide": 4, "attempted_homicide": 8,
           "aggravated_assault": 20, "arson": 10},
    2019: {"shooting": 34, "explosion": 32, "homicide": 2, "attempted_homicide": 6,
           "aggravated_assault": 18, "arson": 9},
    2020: {"shooting": 20, "explosion": 22, "homicide": 3, "attempted_homicide": 5,
           "aggravated_assault": 15, "arson": 7},
}
# year -> (killed, injured, shootings with nobody hurt)
_SHOOTING_HARM: dict[int, tuple[int, int, int]] = {
    2017: (7, 35, 23), 2018: (12, 14, 23), 2019: (5, 13, 12), 2020: (4, 9, 8)}


_UNCONFIRM_REASONS = {
    "shooting": "Technical examination found no sign of a discharged firearm; the sound was fireworks.",
    "explosion": "The device was a large firework, not an explosive charge; no longer counted.",
}


def report_incidents(b: Builder) -> None:
    rng = b.rng
    for year, per_kind in _INCIDENTS_PER_YEAR.items():
        planned = sorted((when, kind) for kind, count in per_kind.items()
                         for when in _incident_dates(b, year, count, kind))
        kinds = [kind for _, kind in planned]
        killed, injured = _harm(b, year, [i for i, k in enumerate(kinds) if k == "shooting"], kinds)
        for number, (when, kind) in enumerate(planned, start=1):
            i = number - 1
            incident_id = f"inc-{year}-{number:04d}"
            suspect, victim = _choose_groups(b, when, kind)
            if victim is not None:
                area = b.groups[victim].area
            elif suspect is not None and rng.random() < 0.7:
                area = b.groups[suspect].area
            else:
                area = b.pick(_OTHER_AREAS + tuple(g.area for g in b.groups.values()))
            confirmed = rng.random() < {"shooting": 0.88, "explosion": 0.9}.get(kind, 0.96)
            victims = (victim,) if victim else ()
            # The first review: right, unknown, or wrong.
            roll = rng.random()
            reported: tuple[str, ...]
            if suspect is None:
                reported = ()
            elif roll < 0.55:
                reported = (suspect,)
                allies = b.related(b.allies, suspect, when)
                if allies and rng.random() < 0.1:
                    reported = (suspect, b.pick(allies))
            elif roll < 0.85:
                reported = ()
            else:
                others = [g.gid for g in b.active_groups(when) if g.gid not in (suspect, victim)]
                reported = (b.pick(others),) if others else ()
            report = {
                "incident_id": incident_id, "kind": kind, "area": area, "confirmed": confirmed,
                "killed": killed[i], "injured": injured[i],
                "suspected_group_ids": list(reported), "victim_group_ids": list(victims),
            }
            reported_at = when + timedelta(minutes=rng.randint(20, 240))
            b.emit("police", "gvi.incident.reported.v1", reported_at, dict(report))
            incident = Incident(incident_id, when, kind, area, confirmed, reported, victims, killed[i],
                                 injured[i], {g: when for g in reported})
            _attributions(b, incident, suspect)
            b.incidents.append(incident)
            if rng.random() < 0.012:  # a second operator registered it again; retracted days later
                duplicate = dict(report, incident_id=f"inc-{year}-{9000 + number:04d}")
                dup_at = reported_at + timedelta(minutes=rng.randint(30, 300))
                dup_id = b.emit("police", "gvi.incident.reported.v1", dup_at, duplicate)
                b.emit("police", RETRACTION_TYPE, b.after(dup_at, 1, 6), {
                    "retracted_event_id": dup_id,
                    "reason": f"Duplicate registration of {incident_id}; entered twice in error."},
                    service="incidents")


def _incident_dates(b: Builder, year: int, count: int, kind: str) -> list[datetime]:
    rng = b.rng
    dates = []
    for _ in range(count):
        day = datetime(year, 1, 1) + timedelta(days=rng.randrange(365))
        hour = rng.choices(range(24), weights=[6, 6, 5, 4, 2, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3,
                                                  4, 4, 5, 6, 7, 7])[0]
        if kind == "explosion":
            hour = rng.choice((0, 1, 2, 3, 4, 22, 23))
        dates.append(day + timedelta(hours=hour, minutes=rng.randrange(60)))
    return dates


def _planned_warning(gid: str) -> datetime | None:
    return next((when for _, when, _, invited in CALL_INS if gid in invited), None)


def _choose_groups(b: Builder, when: datetime, kind: str) -> tuple[str | None, str | None]:
    """The group that really did it (or None) and its victim group (or None)."""
    rng = b.rng
    active = b.active_groups(when)
    if not active or rng.random() < 0.12:
        return None, None
    weights = []
    for group in active:
        warned = _planned_warning(group.gid)
        weight = group.heat * (0.45 if warned is not None and warned <= when else 1.0)
        weight *= 1.0 + 0.5 * len(b.related(b.enemies, group.gid, when))
        weights.append(weight)
    suspect = rng.choices(active, weights=weights)[0].gid
    victim_chance = {"shooting": 0.7, "homicide": 0.8, "attempted_homicide": 0.75,
                     "aggravated_assault": 0.6, "explosion": 0.4, "arson": 0.3}[kind]
    enemies = b.related(b.enemies, suspect, when)
    victim = b.pick(enemies) if enemies and rng.random() < victim_chance else None
    return suspect, victim


def _harm(b: Builder, year: int, shootings: list[int], kinds: list[str]) -> tuple[list[int], list[int]]:
    """Killed and injured per incident of one year (indices into the year's list)."""
    rng = b.rng
    killed = [0] * len(kinds)
    injured = [0] * len(kinds)
    dead, hurt, unharmed = _SHOOTING_HARM[year]
    harmed = rng.sample(shootings, max(1, min(len(shootings) - unharmed, dead + hurt)))
    people = ["killed"] * dead + ["injured"] * hurt
    rng.shuffle(people)
    for i, what in enumerate(people):
        target = harmed[i % len(harmed)]
        if what == "killed":
            killed[target] += 1
        else:
            injured[target] += 1
    for i, kind in enumerate(kinds):
        if kind == "homicide":
            killed[i] = 2 if rng.random() < 0.15 else 1
        elif kind == "attempted_homicide":
            injured[i] = 1 if rng.random() < 0.8 else 2
        elif kind == "aggravated_assault":
            injured[i] = rng.choice((1, 1, 1, 2))
        elif kind == "explosion":
            injured[i] = 1 if rng.random() < 0.08 else 0
        elif kind == "arson":
            injured[i] = 1 if rng.random() < 0.05 else 0
    return killed, injured


def _attributions(b: Builder, incident: Incident, truth: str | None) -> None:
    """Later incident reviews: suspects found or corrected, confirmation changed, victims revised."""
    rng = b.rng
    suspects, victims, confirmed = incident.suspects, incident.victims, incident.confirmed
    reasons: list[tuple[str, str]] = []
    if truth is not None and truth not in suspects:
        if not suspects and rng.random() < 0.6:
            suspects = (truth,)
            reasons.append(("medium", "Witness statements and telephone analysis point to the group."))
        elif suspects and rng.random() < 0.8:
            suspects = (truth,)
            reasons.append(("high", "Forensic match of the weapon; the first review named the wrong "
                                    "group."))
    if confirmed and incident.kind in _UNCONFIRM_REASONS and rng.random() < 0.04:
        confirmed = False
        reasons.append(("high", _UNCONFIRM_REASONS[incident.kind]))
    elif not confirmed and rng.random() < 0.5:
        confirmed = True
        reasons.append(("high", "Confirmed by the technical examination of the scene."))
    if victims and rng.random() < 0.06:
        victims = ()
        reasons.append(("medium", "The injured person is not assessed as a member of any group."))
    if not reasons and suspects and rng.random() < 0.05:
        suspects = ()
        reasons.append(("low", "The suspicion against the group could not be substantiated."))
    if not reasons:
        return
    when = b.after(incident.when, 8, 70)
    confidence = reasons[0][0]
    text = " ".join(r for _, r in reasons)
    b.emit("police", "gvi.incident.attributed.v1", when, {
        "incident_id": incident.incident_id, "confirmed": confirmed,
        "suspected_group_ids": list(suspects), "victim_group_ids": list(victims),
        "confidence": confidence, "reason": text,
    })
    if suspects and rng.random() < 0.12:  # confirmed again after the prosecution's investigation
        b.emit("police", "gvi.incident.attributed.v1", b.after(when, 20, 90), {
            "incident_id": incident.incident_id, "confirmed": confirmed,
            "suspected_group_ids": list(suspects), "victim_group_ids": list(victims),
            "confidence": "high", "reason": "Confirmed by the preliminary investigation's findings.",
        })
    for g in suspects:
        incident.known_at.setdefault(g, when)
    incident.known_at = {g: t for g, t in incident.known_at.items() if g in suspects}
    incident.suspects, incident.victims, incident.confirmed = suspects, victims, confirmed
