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

The story is told chapter by chapter, a module each: `groups` (the groups, their relations and
members), `violence` (incidents and their reviews), `response` (call-ins, warnings, sanctions),
`support` (support and the exit programme) and `epilogue` (retractions and alert triage), with
the cast and the `Builder` in `builder` and the calendar in `local_time`.
"""

from __future__ import annotations

from devtools.scenario.builder import AGENCIES, Builder, ScenarioEvent
from devtools.scenario.epilogue import retract_errors, triage_alerts
from devtools.scenario.groups import add_people, assess_memberships, end_relations, register_groups
from devtools.scenario.local_time import END, START, rfc3339, utc_offset
from devtools.scenario.response import everyday_sanctions, follow_through, hold_call_ins, warn_after_violence
from devtools.scenario.support import offer_support
from devtools.scenario.violence import report_incidents

__all__ = ["AGENCIES", "END", "START", "ScenarioEvent", "build_scenario", "rfc3339", "utc_offset"]


def build_scenario(seed: int = 2018) -> list[ScenarioEvent]:
    """The whole scenario for `seed`, sorted by time; deterministic and pure."""
    b = Builder(seed)
    register_groups(b)
    add_people(b)
    assess_memberships(b)
    report_incidents(b)
    hold_call_ins(b)
    warn_after_violence(b)
    follow_through(b)
    everyday_sanctions(b)
    offer_support(b)
    retract_errors(b)
    end_relations(b)
    triage_alerts(b)
    return b.events()
