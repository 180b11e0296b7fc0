"""What the story is told with: the cast (groups, persons, incidents) and the `Builder` that draws
the story's chances from one seeded random source and emits its events in order."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from devtools.scenario.local_time import END, rfc3339, to_utc
from services.contracts import owner_of

__all__ = ["AGENCIES", "Builder", "Group", "Incident", "Person", "ScenarioEvent"]

AGENCIES = ("police", "prosecutor", "probation", "municipality", "civil-society")
"""The dev agencies (names as in deploy/config/agencies.dev.toml); each posts as /agencies/<name>."""


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


@dataclass
class Group:
    gid: str
    name: str
    area: str
    registered: datetime
    heat: float
    warned_at: datetime | None = None  # the first warning actually delivered


@dataclass
class Person:
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
class Incident:
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


class Builder:
    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self._n = 0
        self.records: list[tuple[datetime, int, ScenarioEvent]] = []
        self._refs: set[int] = set()
        self.groups: dict[str, Group] = {}
        self.persons: list[Person] = []
        self.incidents: list[Incident] = []
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
        self.records.append((to_utc(when), self._n, ScenarioEvent(agency, service, event)))
        return event_id

    def events(self) -> list[ScenarioEvent]:
        end = to_utc(END)
        kept = sorted((r for r in self.records if r[0] < end), key=lambda r: (r[0], r[1]))
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

    def members(self, gid: str, when: datetime, *, probation: bool | None = None) -> list[Person]:
        found = [p for p in self.persons if p.gid == gid and p.member_at(when)]
        if probation is not None:
            preferred = [p for p in found if p.probation == probation]
            return preferred or found
        return found

    def active_groups(self, when: datetime) -> list[Group]:
        return [g for g in self.groups.values() if g.registered <= when]

    def related(self, table: dict[str, list[tuple[str, datetime]]], gid: str, when: datetime) -> list[str]:
        return [other for other, since in table.get(gid, []) if since <= when]

    def pick(self, items: Sequence[str]) -> str:
        return items[self.rng.randrange(len(items))]

    def pick_person(self, people: Sequence[Person]) -> Person:
        return people[self.rng.randrange(len(people))]
