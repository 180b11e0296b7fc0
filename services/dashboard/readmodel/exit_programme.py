"""The exit programme (issue 21): the support offered to groups and their members, its uptake, the
exit milestones people reached, and the outcomes (left the group, left the area), per group and
overall.

Pure: the source facts in (offers, acceptances and milestones that count, retractions applied),
views out. Every role sees the group-level counts (`ExitGroup`); only the roles that may see person
references get the per-person rows (`ExitPerson`), and the routes log that read first.

Milestones come in two versions. `gvi.exit.milestone.v2` names the step in a field of its own
(`milestone`, an enumeration with `left_group` and `left_area`); `gvi.exit.milestone.v1` carried it
as free text in `service`, so a v1 milestone counts as a milestone reached, shows its text as
posted, and is never read as an outcome (the text is not parsed).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from services.contracts.events import (
    ExitMilestone,
    ExitMilestoneKind,
    ExitMilestoneV2,
    SupportAccepted,
    SupportOffered,
)
from services.followthrough import Fact

__all__ = ["OUTCOMES", "ExitGroup", "ExitPerson", "ExitProgramme", "ExitStep", "exit_programme", "step_of"]

OUTCOMES = (ExitMilestoneKind.LEFT_GROUP.value, ExitMilestoneKind.LEFT_AREA.value)
"""The milestones that are outcomes of the programme, as the overview counts them."""


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExitStep(_Part):
    """One milestone: `milestone` is the v2 enumeration's value, None for a v1 milestone, whose
    free text is `text`."""

    time: datetime
    milestone: str | None
    text: str | None
    event_type: str


class ExitGroup(_Part):
    group_id: str
    name: str | None
    offers: int
    """Support offers (to the group or to one of its members)."""
    accepted: int
    """Support offers accepted."""
    people_offered: int
    people_accepted: int
    milestones: int
    people_in_programme: int
    """Distinct people with at least one milestone."""
    left_group: int
    left_area: int
    """Distinct people with that outcome."""


class ExitPerson(_Part):
    person_ref: str | None
    """As `CallInPerson.person_ref`: None once the person's key was shredded (`erased`)."""
    erased: bool = False
    group_id: str
    offered: tuple[str, ...]
    accepted: tuple[str, ...]
    """The services offered and accepted, oldest first."""
    steps: tuple[ExitStep, ...]
    """The milestones reached, oldest first."""
    left_group: datetime | None
    left_area: datetime | None
    """When the person first reached that outcome, if they have."""


class ExitProgramme(_Part):
    group_id: str | None
    """The group the view is limited to; None for the overall view."""
    totals: ExitGroup
    """The sum over the groups (`group_id` `all`); people are counted per group they were named in."""
    groups: tuple[ExitGroup, ...]
    people: tuple[ExitPerson, ...] | None
    """None unless the reader may see person references."""


def step_of(fact: Fact) -> ExitStep | None:
    """The milestone a fact records, of either version; None for anything else."""
    data = fact.data
    if isinstance(data, ExitMilestoneV2):
        return ExitStep(time=fact.time, milestone=data.milestone.value, text=data.service,
                        event_type=fact.type)
    if isinstance(data, ExitMilestone):
        return ExitStep(time=fact.time, milestone=None, text=data.service, event_type=fact.type)
    return None


class _Tally:
    def __init__(self) -> None:
        self.offers = self.accepted = self.milestones = 0
        self.offered: set[str] = set()
        self.took_up: set[str] = set()
        self.in_programme: set[str] = set()
        self.outcomes: dict[str, set[str]] = {o: set() for o in OUTCOMES}

    def group(self, group_id: str, name: str | None) -> ExitGroup:
        return ExitGroup(group_id=group_id, name=name, offers=self.offers, accepted=self.accepted,
                         people_offered=len(self.offered), people_accepted=len(self.took_up),
                         milestones=self.milestones, people_in_programme=len(self.in_programme),
                         left_group=len(self.outcomes["left_group"]),
                         left_area=len(self.outcomes["left_area"]))


class _Person:
    def __init__(self) -> None:
        self.offered: list[str] = []
        self.accepted: list[str] = []
        self.steps: list[ExitStep] = []


def exit_programme(facts: Iterable[Fact], *, people: bool, group_id: str | None = None,
                   group_name: Callable[[str], str | None] = lambda _: None) -> ExitProgramme:
    """The programme from the offers, acceptances and milestones that count (any order; they are
    taken in (time, id, source) order), limited to `group_id` when given."""
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    persons: dict[tuple[str, str], _Person] = defaultdict(_Person)
    for fact in sorted(facts, key=lambda f: f.order):
        data = fact.data
        gid = getattr(data, "group_id", None)
        if not isinstance(gid, str) or (group_id is not None and gid != group_id):
            continue
        person: str | None = getattr(data, "person_ref", None)
        tally = tallies[gid]
        step = step_of(fact)
        if isinstance(data, SupportAccepted):
            tally.accepted += 1
            if person is not None:
                tally.took_up.add(person)
                persons[(gid, person)].accepted.append(data.service)
        elif isinstance(data, SupportOffered):
            tally.offers += 1
            if person is not None:
                tally.offered.add(person)
                persons[(gid, person)].offered.append(data.service)
        elif step is not None:
            tally.milestones += 1
            if person is not None:
                tally.in_programme.add(person)
                if step.milestone in OUTCOMES:
                    tally.outcomes[step.milestone].add(person)
                persons[(gid, person)].steps.append(step)
    groups = tuple(tallies[g].group(g, group_name(g)) for g in sorted(tallies))
    return ExitProgramme(group_id=group_id, totals=_sum(groups), groups=groups,
                         people=tuple(_person(p, g, persons[(g, p)]) for g, p in sorted(persons))
                         if people else None)


def _first(steps: list[ExitStep], milestone: str) -> datetime | None:
    return next((s.time for s in steps if s.milestone == milestone), None)


def _person(person_ref: str, group_id: str, found: _Person) -> ExitPerson:
    return ExitPerson(person_ref=person_ref, group_id=group_id, offered=tuple(found.offered),
                      accepted=tuple(found.accepted), steps=tuple(found.steps),
                      left_group=_first(found.steps, "left_group"),
                      left_area=_first(found.steps, "left_area"))


def _sum(groups: tuple[ExitGroup, ...]) -> ExitGroup:
    fields = ("offers", "accepted", "people_offered", "people_accepted", "milestones",
              "people_in_programme", "left_group", "left_area")
    return ExitGroup(group_id="all", name=None,
                     **{f: sum(getattr(g, f) for g in groups) for f in fields})
