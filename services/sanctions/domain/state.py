"""What the rules produce: a group's state, its cases and links, and the unresolved sanctions.

These records are the contract between the processor, the dashboard, the replay tool and external
consumers (issue 3, "Outputs"). They are frozen pydantic models so a consumer can parse them back,
and `to_json` gives canonical JSON (sorted keys, no whitespace, times in UTC with `Z`), so equal
states are equal bytes, which is what lets an auditor's replay be compared with the live view.

Every case and every sanction link carries the ids of the input events it rests on (provenance), so
that `gvi-audit explain` can name them; ids are the agencies' event ids (`source` is given where a
record stands for one event).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from services.contracts import canonical_json
from services.contracts.types import UtcDatetime

__all__ = [
    "RULE_VERSION",
    "CanonicalRecord",
    "CaseProvenance",
    "CaseState",
    "CaseStatus",
    "GroupState",
    "GroupStatus",
    "GroupSummary",
    "LinkRule",
    "Presentation",
    "ResolvedBy",
    "SanctionLink",
    "UnresolvedSanction",
    "WarningEntry",
    "days_between",
]

RULE_VERSION = 2
"""The version of the rules below; recorded in every output so a later change of rules is visible."""


class CaseStatus(StrEnum):
    AWAITING_SANCTION = "awaiting_sanction"
    SANCTIONED = "sanctioned"
    PRESENTED = "presented"


class GroupStatus(StrEnum):
    UNWARNED = "unwarned"
    WARNED = "warned"
    AWAITING_SANCTION = "awaiting_sanction"
    SANCTIONED = "sanctioned"
    PRESENTED = "presented"


class LinkRule(StrEnum):
    """Why a sanction landed where it did (rule 5)."""

    EXPLICIT_INCIDENT = "explicit_incident"
    LATEST_CASE_WITHIN_WINDOW = "latest_case_within_window"
    BASELINE = "baseline"


class ResolvedBy(StrEnum):
    """How a sanction was resolved to the group (rule 4)."""

    NAMED_GROUP = "named_group"
    MEMBERSHIP = "membership"


class CanonicalRecord(BaseModel):
    """A frozen output record of the rules, with one canonical serialisation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_json(self) -> bytes:
        """Canonical JSON bytes: equal records are equal bytes."""
        if _in_name_order(type(self)):
            # pydantic writes a record's fields in the order of its `__dict__`, which is the order of
            # declaration (validation, `model_construct` and `assembled` all follow it): in name
            # order, that is `canonical_json(self.model_dump(mode="json"))`, several times faster
            return self.__pydantic_serializer__.to_json(self)
        return canonical_json(self.model_dump(mode="json"))


_NAME_ORDER: dict[type[BaseModel], bool] = {}


def _in_name_order(cls: type[BaseModel]) -> bool:
    """Whether `cls` and every record inside it declare their fields in name order (and hold no
    mapping, whose keys would keep their own order)."""
    known = _NAME_ORDER.get(cls)
    if known is None:
        known = _NAME_ORDER[cls] = _schema_in_name_order(cls.__pydantic_core_schema__)
    return known


def _schema_in_name_order(schema: Any) -> bool:
    if isinstance(schema, dict):
        if schema.get("type") in ("dict", "any", "typed-dict", "dataclass-args"):
            return False
        if schema.get("type") == "model-fields" and list(schema["fields"]) != sorted(schema["fields"]):
            return False
        return all(_schema_in_name_order(value) for value in schema.values())
    if isinstance(schema, list):
        return all(_schema_in_name_order(value) for value in schema)
    return True


_Record = TypeVar("_Record", bound=CanonicalRecord)
_SPECS: dict[type[CanonicalRecord], tuple[tuple[str, ...], set[str]]] = {}


def assembled(cls: type[_Record], values: dict[str, Any]) -> _Record:
    """`cls.model_construct(**values)` for `values` that give every field, already valid: the same
    object without the search for defaults, aliases and extras (the rules make thousands of links
    in a batch). Tested to equal `model_construct`.

    The record takes `values` as its own (pass a fresh dict) when it lists the fields in their
    order of declaration, as the rules' literals do; otherwise it gets a copy in that order. Every
    record of a class shares one set of fields given: a frozen record never changes it, and
    `model_copy` copies it before an update."""
    names, given = _spec(cls)
    if tuple(values) != names:
        try:
            ordered = {name: values[name] for name in names}  # in declaration order, as validation makes it
        except KeyError:
            ordered = {}
        if len(ordered) != len(values):
            raise TypeError(f"{cls.__name__} needs exactly the fields {sorted(names)}")
        values = ordered
    return _made(cls, values, given)


def assembled_in_order(cls: type[_Record], values: dict[str, Any]) -> _Record:
    """`assembled` for `values` that list every field of `cls` in its order of declaration, unchecked:
    for the rules' own literals, each made hundreds of thousands of times by a replay (their order
    is tested, `tests/unit/domain/test_domain_records.py`)."""
    return _made(cls, values, (_SPECS.get(cls) or _spec(cls))[1])


def _spec(cls: type[CanonicalRecord]) -> tuple[tuple[str, ...], set[str]]:
    """`cls`'s field names in declaration order, and the one set of them its records share."""
    spec = _SPECS.get(cls)
    if spec is None:
        names = tuple(cls.model_fields)
        spec = _SPECS[cls] = (names, set(names))
    return spec


_new = object.__new__  # a model has no `__new__` of its own
_set_dict = BaseModel.__dict__["__dict__"].__set__
# the slots of every model, set through their descriptors: a third less than `object.__setattr__`
_set_given = BaseModel.__dict__["__pydantic_fields_set__"].__set__
_set_extra = BaseModel.__dict__["__pydantic_extra__"].__set__
_set_private = BaseModel.__dict__["__pydantic_private__"].__set__


def _made(cls: type[_Record], values: dict[str, Any], given: set[str]) -> _Record:
    record: _Record = _new(cls)
    _set_dict(record, values)
    _set_given(record, given)
    _set_extra(record, None)
    _set_private(record, None)
    return record


# The records below (and alerts) declare their fields in name order, so that `to_json` writes their
# canonical JSON with pydantic's own serialiser (tests/unit/domain checks both).


class WarningEntry(CanonicalRecord):
    channel: str
    event_id: str
    time: UtcDatetime


class SanctionLink(CanonicalRecord):
    """One sanction attached to a case or to the group's baseline, and what that rests on."""

    agency: str | None = Field(description="The agency whose key posted the sanction (the intake's "
                                           "`agency` attribute).")
    kind: str
    membership_ids: tuple[str, ...] = Field(
        description="The membership assessments valid at the sanction's time that put its person in "
                    "this group (sorted); empty when the sanction named the group.")
    resolved_by: ResolvedBy
    rule: LinkRule
    sanction_id: str
    source: str
    time: UtcDatetime


class Presentation(CanonicalRecord):
    """The held call-in that presented a case: the first one, by (time, id), after its first sanction."""

    call_in_id: str
    held_id: str
    held_time: UtcDatetime
    scheduled_id: str


class CaseProvenance(CanonicalRecord):
    attribution_id: str | None
    presented_by: Presentation | None
    report_id: str
    warning_id: str


class CaseState(CanonicalRecord):
    """A violation by a warned group (rule 3), and its follow-through (rules 5 and 6)."""

    days_to_first_sanction: float | None
    first_sanction_time: UtcDatetime | None
    incident_id: str
    incident_time: UtcDatetime
    links: tuple[SanctionLink, ...]
    provenance: CaseProvenance
    sanction_ids: tuple[str, ...]
    status: CaseStatus
    warning_id: str


class GroupState(CanonicalRecord):
    """Everything the rules say about one group (rule 7), keyed by `group_id`."""

    baseline_links: tuple[SanctionLink, ...]
    baseline_sanction_ids: tuple[str, ...]
    cases: tuple[CaseState, ...]
    group_id: str
    name: str | None
    registration_id: str | None
    rule_version: Annotated[int, Field(ge=1)] = RULE_VERSION
    status: GroupStatus
    unwarned_incident_ids: tuple[str, ...]
    warned_since: UtcDatetime | None
    warnings: tuple[WarningEntry, ...]


class GroupSummary(CanonicalRecord):
    """A group's state without its cases, unwarned incidents and baseline links: the `group` record of
    the `group-state` topic (the others are records of their own, see `records.py`)."""

    group_id: str
    name: str | None
    registration_id: str | None
    status: GroupStatus
    warned_since: UtcDatetime | None
    warnings: tuple[WarningEntry, ...]
    case_count: int
    open_case_count: int = Field(description="Cases awaiting their first sanction.")
    last_incident_id: str | None = Field(description="The group's latest confirmed incident as a "
                                                      "suspect, warned or not, by (time, id).")
    last_incident_time: UtcDatetime | None
    rule_version: Annotated[int, Field(ge=1)] = RULE_VERSION

    def to_json(self) -> bytes:
        return self.to_json_with(warnings_json(self.warnings))

    def to_json_with(self, warnings: bytes) -> bytes:
        """`to_json()`, given `warnings_json(self.warnings)`: `warnings` is the last key in sorted
        order, so the record's bytes are the rest's canonical JSON with it appended, and a summary
        rebuilt for a new case or sanction does not serialise the group's warnings again."""
        head = canonical_json(self.model_dump(mode="json", exclude={"warnings"}))
        return head[:-1] + b',"warnings":' + warnings + b"}"


def warnings_json(warnings: tuple[WarningEntry, ...]) -> bytes:
    """The canonical JSON of a summary's `warnings`."""
    return json_array(entry.to_json() for entry in warnings)


def json_array(items: Iterable[bytes]) -> bytes:
    """The canonical JSON of an array, from the canonical JSON of its items."""
    return b"[" + b",".join(items) + b"]"


class UnresolvedSanction(CanonicalRecord):
    """A sanction that names only a person with no membership valid at its time: a data-quality
    queue, keyed by `sanction_id`. The person reference is left out (personal data); authorised
    roles find it through the sanction event itself."""

    incident_id: str | None
    kind: str
    reason: Literal["no_membership_valid_at_sanction_time"] = "no_membership_valid_at_sanction_time"
    rule_version: int = RULE_VERSION
    sanction_id: str
    source: str
    time: UtcDatetime


_DAY_MICROSECONDS = 86_400_000_000
_ONE_MICROSECOND = timedelta(microseconds=1)


def days_between(start: datetime, end: datetime) -> float:
    """Days from `start` to `end` as a fraction, rounded half-up (away from zero) to 2 decimals (1 day
    6 hours is 1.25). Exact integer arithmetic on whole microseconds, so the same instants always
    give the same number: the float nearest the rounded hundredths, as `Decimal.quantize(...,
    ROUND_HALF_UP)` gives (tested against it). Negative when `end` precedes `start`."""
    micro = (end - start) // _ONE_MICROSECOND
    hundredths, rest = divmod(abs(micro) * 100, _DAY_MICROSECONDS)
    if 2 * rest >= _DAY_MICROSECONDS:
        hundredths += 1
    return (hundredths if micro >= 0 else -hundredths) / 100

