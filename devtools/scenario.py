"""A realistic, deterministic GVI scenario for `make demo`: ten groups in a Malmö-like city, 2017-2020.

    build_scenario(seed=2018) -> list[ScenarioEvent]

Pure: the same seed always gives the same events, with the same ids, in the same order; there is no
clock and no I/O. Each `ScenarioEvent` names the agency that posts it (a key of the dev agencies file,
e.g. "police"), the intake service that takes it and the structured-mode CloudEvent itself, with the
local Swedish offset (+01:00 in winter, +02:00 in summer) on `time`, as a Swedish system would send it.

What happens in the scenario:
* the group audit registers eight groups in early 2017, two more emerge in 2018 and 2019; the police
  record conflicts and alliances between them;
* the police assess members (opaque `pol:p-NNNNNN` references, never names) for a year at a time; most
  assessments are renewed at review, some lapse, members join over the years, some leave;
* incidents of every kind, reported by the police, follow roughly the shape of the published Malmö
  figures (shootings 65/47/34/20, explosions declining); many are re-attributed weeks later (a suspect
  found, a wrong suspect corrected, a shooting unconfirmed); a few duplicates are retracted;
* from 2018 probation schedules and holds call-ins twice a year, members are warned there, by custom
  notification (probation) and by home visit and letter (the municipality);
* when a warned group is violent again, the police, the prosecutor and probation follow up with
  sanctions days to weeks later, quicker and more certainly as the strategy matures; there are also
  everyday sanctions unrelated to any violation;
* civil society and the municipality offer support; about thirty members take exit steps, posted
  as `gvi.exit.milestone.v1` (the step as free text) until the municipality moves to
  `gvi.exit.milestone.v2` on 1 January 2020 (the step as a field of its own, starting with
  `left_group` when the person leaves; relocation is `left_area`);
* now and then an agency retracts an event it entered in error.

Events are sorted by `time` (the time they were recorded for attributions and retractions), which is
the order an agency's systems would post them in.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from services.contracts import RETRACTION_TYPE, owner_of
from services.contracts.alerts import AlertKind, alert_id

__all__ = ["AGENCIES", "END", "START", "ScenarioEvent", "build_scenario", "rfc3339", "utc_offset"]

AGENCIES = ("police", "prosecutor", "probation", "municipality", "civil-society")
"""The dev agencies (names as in deploy/config/agencies.dev.toml); each posts as /agencies/<name>."""

START = datetime(2017, 1, 1)
END = datetime(2021, 1, 1)
"""The scenario's span in local (Swedish) wall-clock time; END is exclusive."""


@dataclass(frozen=True, slots=True)
class ScenarioEvent:
    """One event as an agency posts it. `event` is a structured-mode CloudEvent; treat it as read-only."""

    agency: str
    service: str
    event: dict[str, Any]

    @property
    def id(self) -> str:
        return str(self.event["id"])

    @property
    def type(self) -> str:
        return str(self.event["type"])

    @property
    def time(self) -> str:
        return str(self.event["time"])


# --- Swedish local time ---------------------------------------------------------------------------------

def _last_sunday(year: int, month: int) -> date:
    day = date(year, month, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def utc_offset(local: datetime) -> timedelta:
    """The offset of Swedish local time (CET/CEST, EU rules) at the naive wall-clock time `local`."""
    summer_starts = datetime.combine(_last_sunday(local.year, 3), datetime.min.time()) + timedelta(hours=2)
    summer_ends = datetime.combine(_last_sunday(local.year, 10), datetime.min.time()) + timedelta(hours=3)
    return timedelta(hours=2 if summer_starts <= local < summer_ends else 1)


def rfc3339(local: datetime) -> str:
    """`local` (naive Swedish wall-clock time) as RFC 3339 with its offset, e.g. 2018-03-20T14:00:00+01:00."""
    hours = int(utc_offset(local).total_seconds()) // 3600
    return f"{local.replace(microsecond=0).isoformat()}+{hours:02d}:00"


def _utc(local: datetime) -> datetime:
    return local - utc_offset(local)


# --- the cast -------------------------------------------------------------------------------------------

@dataclass
class _Group:
    gid: str
    name: str
    area: str
    registered: datetime
    heat: float
    warned_at: datetime | None = None  # the first warning actually delivered


@dataclass
class _Person:
    ref: str
    gid: str
    probation: bool
    joined: datetime
    exit_at: datetime | None = None
    periods: list[tuple[datetime, datetime]] = field(default_factory=list)

    def member_at(self, when: datetime) -> bool:
        if self.exit_at is not None and when >= self.exit_at:
            return False
        return any(start <= when < end for start, end in self.periods)


@dataclass
class _Incident:
    incident_id: str
    when: datetime
    kind: str
    area: str
    confirmed: bool
    suspects: tuple[str, ...]
    victims: tuple[str, ...]
    killed: int
    injured: int
    known_at: dict[str, datetime] = field(default_factory=dict)  # final suspect -> when first named


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

_OTHER_AREAS = ("Kroksbäck", "Nydala", "Södra Sofielund", "Fosie", "Oxie", "Centrum", "Västra hamnen",
                "Kirseberg", "Husie", "Bellevue")

# (call_in_id, when, location, invited)
_CALL_INS: tuple[tuple[str, datetime, str, tuple[str, ...]], ...] = (
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
_LEVERS = ("arrest", "prosecution", "sentence_enforcement", "probation_action", "search", "asset_seizure",
           "tax_enforcement", "detention")
MILESTONE_V2_FROM = datetime(2020, 1, 1)
"""From when the municipality posts exit milestones as `gvi.exit.milestone.v2`."""
_MILESTONE_OF = {"exit programme intake": "intake", "housing": "housing", "relocation": "left_area",
                 "work": "work_or_studies", "education": "work_or_studies", "debt counselling": "plan_agreed",
                 "exit programme completed": "completed"}
"""The v2 milestone for each free-text step the scenario posted in v1."""
_SERVICES = ("housing", "work", "education", "relocation", "debt counselling", "mentoring")

class _Builder:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self._n = 0
        self._records: list[tuple[datetime, int, ScenarioEvent]] = []
        self._refs: set[int] = set()
        self.groups: dict[str, _Group] = {}
        self.persons: list[_Person] = []
        self.incidents: list[_Incident] = []
        self.enemies: dict[str, list[tuple[str, datetime]]] = {}
        self.allies: dict[str, list[tuple[str, datetime]]] = {}

    # -- output ------------------------------------------------------------------------------------------

    def emit(self, agency: str, event_type: str, when: datetime, data: dict[str, Any],
             service: str | None = None) -> str:
        self._n += 1
        event_id = f"demo-{self.seed}-{self._n:05d}"
        if service is None:
            owner = owner_of(event_type)
            assert owner is not None, "retractions name their service"
            service = owner.value
        event = {
            "specversion": "1.0",
            "id": event_id,
            "source": f"/agencies/{agency}",
            "type": event_type,
            "time": rfc3339(when),
            "datacontenttype": "application/json",
            "data": data,
        }
        self._records.append((_utc(when), self._n, ScenarioEvent(agency, service, event)))
        return event_id

    def events(self) -> list[ScenarioEvent]:
        end = _utc(END)
        kept = sorted((r for r in self._records if r[0] < end), key=lambda r: (r[0], r[1]))
        return [r[2] for r in kept]

    # -- helpers -----------------------------------------------------------------------------------------

    def daytime(self, day: datetime, first: int = 8, last: int = 17) -> datetime:
        """A working-hours time on `day`'s date (moved off weekends)."""
        base = datetime(day.year, day.month, day.day)
        while base.weekday() >= 5:
            base += timedelta(days=1)
        return base + timedelta(hours=self.rng.randint(first, last), minutes=self.rng.randrange(0, 60, 5))

    def after(self, when: datetime, min_days: float, max_days: float, *, office: bool = True) -> datetime:
        later = when + timedelta(days=self.rng.uniform(min_days, max_days))
        if not office:
            return later.replace(second=0, microsecond=0)
        moved = self.daytime(later)
        return moved if moved > when else when + timedelta(hours=self.rng.randint(1, 4))

    def new_ref(self) -> str:
        while True:
            number = self.rng.randrange(1000, 999_999)
            if number not in self._refs:
                self._refs.add(number)
                return f"pol:p-{number:06d}"

    def members(self, gid: str, when: datetime, *, probation: bool | None = None) -> list[_Person]:
        found = [p for p in self.persons if p.gid == gid and p.member_at(when)]
        if probation is not None:
            preferred = [p for p in found if p.probation == probation]
            return preferred or found
        return found

    def active_groups(self, when: datetime) -> list[_Group]:
        return [g for g in self.groups.values() if g.registered <= when]

    def related(self, table: dict[str, list[tuple[str, datetime]]], gid: str, when: datetime) -> list[str]:
        return [other for other, since in table.get(gid, []) if since <= when]

    def pick(self, items: Sequence[str]) -> str:
        return items[self.rng.randrange(len(items))]

    def pick_person(self, people: Sequence[_Person]) -> _Person:
        return people[self.rng.randrange(len(people))]


# --- the story, step by step ----------------------------------------------------------------------------

def _groups(b: _Builder) -> None:
    for gid, name, area, registered, heat in _GROUPS:
        b.groups[gid] = _Group(gid, name, area, registered, heat)
        b.emit("police", "gvi.group.registered.v1", registered,
               {"group_id": gid, "name": name, "area": area})
    for gid, other, relation, recorded in _RELATIONS:
        b.emit("police", "gvi.group.relation.recorded.v1", recorded,
               {"group_id": gid, "other_group_id": other, "relation": relation})
        for a, c in ((gid, other), (other, gid)):
            for table in (b.enemies, b.allies):  # a later record replaces an earlier relation
                table[a] = [(x, since) for x, since in table.get(a, []) if x != c]
            (b.enemies if relation == "conflict" else b.allies).setdefault(a, []).append((c, recorded))


def _people(b: _Builder) -> None:
    rng = b.rng
    for group in b.groups.values():
        joins = [b.after(group.registered, 0, 35) for _ in range(rng.randint(11, 17))]
        day = group.registered + timedelta(days=60)
        while day < datetime(2020, 10, 1):
            day += timedelta(days=rng.uniform(45, 130))
            joins.append(b.daytime(day))
        for joined in sorted(joins):
            b.persons.append(_Person(b.new_ref(), group.gid, rng.random() < 0.4, joined))
    # About thirty members leave through the exit programme (decided here, so that their assessments
    # are not renewed after they have left).
    candidates = [p for p in b.persons if p.joined < datetime(2020, 3, 1)]
    for person in rng.sample(candidates, 32):
        earliest = max(datetime(2018, 5, 1), person.joined + timedelta(days=90))
        span = (datetime(2020, 11, 15) - earliest).days
        if span > 30:
            person.exit_at = b.daytime(earliest + timedelta(days=rng.uniform(0, span)))


def _memberships(b: _Builder) -> None:
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


def _incident_dates(b: _Builder, year: int, count: int, kind: str) -> list[datetime]:
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
    return next((when for _, when, _, invited in _CALL_INS if gid in invited), None)


def _choose_groups(b: _Builder, when: datetime, kind: str) -> tuple[str | None, str | None]:
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


def _harm(b: _Builder, year: int, shootings: list[int], kinds: list[str]) -> tuple[list[int], list[int]]:
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


_UNCONFIRM_REASONS = {
    "shooting": "Technical examination found no sign of a discharged firearm; the sound was fireworks.",
    "explosion": "The device was a large firework, not an explosive charge; no longer counted.",
}


def _incidents(b: _Builder) -> None:
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
            incident = _Incident(incident_id, when, kind, area, confirmed, reported, victims, killed[i],
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


def _attributions(b: _Builder, incident: _Incident, truth: str | None) -> None:
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


def _warn(b: _Builder, agency: str, when: datetime, gid: str, channel: str, person: _Person | None,
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


def _sanction(b: _Builder, agency: str, when: datetime, kind: str, gid: str | None,
              person: _Person | None, incident_id: str | None = None) -> str | None:
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


def _call_ins(b: _Builder) -> None:
    rng = b.rng
    for call_in_id, when, location, invited in _CALL_INS:
        b.emit("probation", "gvi.callin.scheduled.v1", b.after(when, -30, -16), {
            "call_in_id": call_in_id, "scheduled_for": rfc3339(when), "location": location,
            "invited_group_ids": list(invited)})
        attended: list[tuple[_Person, str]] = []
        no_shows: list[tuple[_Person, str]] = []
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


def _reactive_warnings(b: _Builder) -> None:
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


def _follow_through(b: _Builder) -> None:
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


def _everyday_sanctions(b: _Builder) -> None:
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


def _support(b: _Builder) -> None:
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


# (agency, service, event type, reasons)
_RETRACTABLE: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("police", "sanctions", "gvi.sanction.recorded.v1",
     ("Entered in error: wrong person reference.", "Entered in error: belongs to another case.")),
    ("police", "notifications", "gvi.membership.assessed.v1",
     ("Entered in error: the assessment was registered on the wrong group.",
      "Withdrawn after review: the evidence did not meet the assessment criteria.")),
    ("police", "incidents", "gvi.incident.attributed.v1",
     ("Recorded on the wrong incident.",)),
    ("prosecutor", "sanctions", "gvi.sanction.recorded.v1",
     ("The prosecution decision was recorded on the wrong case.",)),
    ("probation", "sanctions", "gvi.sanction.recorded.v1",
     ("Entered in error: the breach report was withdrawn.",)),
    ("probation", "notifications", "gvi.warning.delivered.v1",
     ("The notification was planned but never delivered; entered in advance in error.",)),
    ("municipality", "notifications", "gvi.warning.delivered.v1",
     ("The home visit did not take place; registered in advance in error.",)),
    ("civil-society", "notifications", "gvi.support.offered.v1",
     ("Registered twice.",)),
    ("municipality", "notifications", "gvi.support.accepted.v1",
     ("Entered in error: the person declined.",)),
)


def _retractions(b: _Builder) -> None:
    rng = b.rng
    pool = sorted(b._records, key=lambda r: r[1])
    for agency, service, event_type, reasons in _RETRACTABLE:
        candidates = [r for r in pool if r[2].agency == agency and r[2].service == service
                      and r[2].type == event_type and r[0] < _utc(datetime(2020, 11, 1))
                      and (event_type != "gvi.warning.delivered.v1"
                           or r[2].event["data"]["channel"] not in ("call_in", "letter"))]
        for _, _, target in rng.sample(candidates, min(len(candidates), rng.randint(1, 3))):
            posted = datetime.fromisoformat(target.time).replace(tzinfo=None)
            b.emit(agency, RETRACTION_TYPE, b.after(posted, 1, 25),
                   {"retracted_event_id": target.id, "reason": b.pick(reasons)}, service=service)


_ENDED: tuple[tuple[str, str, datetime], ...] = (
    ("grp-vargarna", "grp-ormarna", datetime(2020, 11, 16, 10)),
)
"""Conflicts a mediation ended late in the story (told last, so the earlier events keep their ids;
the story's violence does not know of them, as a flare-up after a mediation would not)."""


def _mediations(b: _Builder) -> None:
    for gid, other, ended in _ENDED:
        b.emit("police", "gvi.group.relation.ended.v1", ended, {"group_id": gid, "other_group_id": other})


_TRIAGE_NOTES = ("Met the group's families with the social services; no retaliation seen.",
                 "Talked with the youth centre staff in the area; the situation is calm.")


def _triage(b: _Builder) -> None:
    """The coordinator triages the retaliation-risk alerts of the last confirmed incidents with
    victims (told last, so the earlier events keep their ids): each acknowledged, most assigned,
    some resolved with a note. A triage changes no rule: the processor raises the same alerts."""
    reports = [(r.time, r.event["data"]) for when, _, r in sorted(b._records, key=lambda r: (r[0], r[1]))
               if r.type == "gvi.incident.reported.v1" and r.event["data"]["confirmed"]
               and r.event["data"].get("victim_group_ids") and when < _utc(datetime(2020, 12, 1))]
    for n, (when, data) in enumerate(reports[-4:]):
        target = alert_id(AlertKind.RETALIATION_RISK, data["victim_group_ids"][0], data["incident_id"])
        seen = b.after(datetime.fromisoformat(when).replace(tzinfo=None), 1, 2)
        b.emit("municipality", "gvi.alert.triaged.v1", seen, {"alert_id": target, "action": "acknowledged"})
        if n % 4 == 3:
            continue
        b.emit("municipality", "gvi.alert.triaged.v1", seen + timedelta(hours=1),
               {"alert_id": target, "action": "assigned", "assignee": "coordinator"})
        if n % 2 == 0:
            b.emit("municipality", "gvi.alert.triaged.v1", seen + timedelta(days=6),
                   {"alert_id": target, "action": "resolved", "note": _TRIAGE_NOTES[n // 2]})


def build_scenario(seed: int = 2018) -> list[ScenarioEvent]:
    """The whole scenario for `seed`, sorted by time; deterministic and pure."""
    b = _Builder(seed)
    _groups(b)
    _people(b)
    _memberships(b)
    _incidents(b)
    _call_ins(b)
    _reactive_warnings(b)
    _follow_through(b)
    _everyday_sanctions(b)
    _support(b)
    _retractions(b)
    _mediations(b)
    _triage(b)
    return b.events()
