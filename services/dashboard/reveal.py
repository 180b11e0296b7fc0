"""Person references and personal text as a reader who may see them is shown them.

The read model works on what Kafka holds: the intakes seal every event (`services.privacy.sealing`),
so a person reference there is the person's pseudonym, stable per person, which is all the read
model needs to group, count and match people. This module is the presentation edge: for a role
that sees person references, each pseudonym is mapped back to the reference through the key ring
(`KeyRing.reveal`) and a membership assessment's evidence is opened with the person's key. A
reference that is not a pseudonym (an event posted before sealing) is shown as it is. A person
whose key was shredded is shown as erased: `erased` set, reference and evidence left empty, so
nothing of them reaches a page, the API or a download.

Rows are sorted again by what is shown (erased persons last), so a page lists people by their
reference as before sealing, not by their random pseudonyms.

The key ring is followed from the `person-keys` topic (`KafkaKeyStore`); a person is shown as
erased only once the ring has applied the tombstone of their claim (tombstones are kept for good).
A pseudonym whose claim this replica has not read yet (a person first named a moment ago) is
shown as the pseudonym, its evidence sealed, until it has.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import TypeVar

from services.contracts.personal import is_pseudonym
from services.dashboard.readmodel.call_in import CallInPerson, CallInPrep
from services.dashboard.readmodel.exit_programme import ExitPerson, ExitProgramme
from services.dashboard.readmodel.group_audit import GroupAudit, MembershipRow
from services.dashboard.readmodel.sources import SupportEntry, WarningToPerson
from services.followthrough import FactKey
from services.privacy.keys import KeyRing
from services.privacy.sealing import opened

__all__ = ["Reveal"]

_Person = TypeVar("_Person", CallInPerson, ExitPerson)

_MEMBERSHIP = "gvi.membership.assessed.v1"


class Reveal:
    """Reveals the person-level views of the read model through `ring`; `sealed(key)` gives the
    `sealed` attribute of a membership assessment (`SourceFacts.sealed`)."""

    def __init__(self, ring: KeyRing, sealed: Callable[[FactKey], str | None] = lambda _: None) -> None:
        self._ring = ring
        self._sealed = sealed

    def person(self, ref: str) -> str | None:
        """The reference shown for `ref`: itself unless a pseudonym; None once shredded; the
        pseudonym itself while its claim is not read yet (a person first named a moment ago)."""
        if not is_pseudonym(ref):
            return ref
        revealed = self._ring.reveal(ref)
        if revealed is None and not self._ring.was_shredded(ref):
            return ref
        return revealed

    def membership(self, row: MembershipRow) -> MembershipRow:
        if not is_pseudonym(row.person_ref):
            return row
        ref = self.person(row.person_ref)
        if ref is None:
            return dataclasses.replace(row, person_ref="", evidence="", erased=True)
        if ref == row.person_ref:  # not read yet: the evidence stays sealed
            return row
        evidence = row.evidence
        sealed = self._sealed((row.source, row.event_id))
        if sealed is not None:
            event = {"type": _MEMBERSHIP, "source": row.source, "id": row.event_id,
                     "data": {"person_ref": row.person_ref}, "sealed": sealed}
            evidence = opened(event, self._ring.data_key).get("/data", {}).get("evidence", evidence)
        return dataclasses.replace(row, person_ref=ref, evidence=evidence)

    def audit(self, audit: GroupAudit) -> GroupAudit:
        """The audit's memberships and expiring assessments revealed (re-sorted by what is shown:
        each group's by person then expiry, the expiring by expiry, group, person)."""
        if not audit.people:
            return audit
        memberships = tuple((group, tuple(sorted((self.membership(r) for r in rows), key=_by_person)))
                            for group, rows in audit.memberships)
        expiring = tuple(sorted((self.membership(r) for r in audit.expiring),
                                key=lambda r: (r.valid_until, r.group_id, *_shown(r.erased, r.person_ref))))
        return dataclasses.replace(audit, memberships=memberships, expiring=expiring)

    def prep(self, prep: CallInPrep) -> CallInPrep:
        if prep.people is None:
            return prep
        return prep.model_copy(update={"people": self._people(prep.people)})

    def exit(self, programme: ExitProgramme) -> ExitProgramme:
        if programme.people is None:
            return programme
        return programme.model_copy(update={"people": self._people(programme.people)})

    def _people(self, people: Iterable[_Person]) -> tuple[_Person, ...]:
        """Each person row revealed, sorted by group, then by what is shown (erased last)."""
        out = []
        for p in people:
            ref = self.person(p.person_ref) if p.person_ref is not None else None
            out.append(p.model_copy(update={"person_ref": ref, "erased": ref is None}))
        out.sort(key=lambda p: (p.group_id, *_shown(p.erased, p.person_ref)))
        return tuple(out)

    def warnings(self, found: Iterable[WarningToPerson]) -> list[WarningToPerson]:
        out = []
        for w in found:
            ref = self.person(w.person_ref)
            out.append(dataclasses.replace(w, person_ref=ref or "", erased=ref is None))
        return out

    def support(self, found: Iterable[SupportEntry]) -> list[SupportEntry]:
        """The entries that name a person (the others are the group's), revealed."""
        out = []
        for s in found:
            if s.person_ref is not None:
                ref = self.person(s.person_ref)
                out.append(dataclasses.replace(s, person_ref=ref or "", erased=ref is None))
        return out


def _shown(erased: bool, ref: str | None) -> tuple[bool, str]:
    return erased, ref or ""


def _by_person(row: MembershipRow) -> tuple[bool, str, object, str]:
    return row.erased, row.person_ref, row.valid_until, row.event_id
