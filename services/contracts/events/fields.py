"""What every event payload is built from: the frozen, strict base model and the identifier fields."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.contracts.types import IDENTIFIER_PATTERN

__all__ = ["IdList", "IdListBounds", "Identifier", "Payload", "PersonRef", "no_duplicates"]


def no_duplicates(values: tuple[str, ...]) -> tuple[str, ...]:
    if len(set(values)) != len(values):
        raise ValueError("must not list the same id twice")
    return values


Identifier = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN,
          description="An identifier: letters, digits, '.', '_', ':' or '-', "
                      "starting with a letter or digit."),
]
PersonRef = Annotated[
    str,
    Field(min_length=1, max_length=128, pattern=IDENTIFIER_PATTERN,
          description="An agency's opaque reference to a person (personal data; never a name). "
                      "In Kafka it is the person's pseudonym (see docs/events.md, Personal data).",
          json_schema_extra={"x-personal": True}),
]
# Length constraints come before the AfterValidator: after it, pydantic would export them as string
# constraints (maxLength) instead of array ones (maxItems).
IdListBounds = Field(max_length=100, json_schema_extra={"uniqueItems": True})
IdList = Annotated[tuple[Identifier, ...], IdListBounds, AfterValidator(no_duplicates)]


class Payload(BaseModel):
    """The base of every event's `data`: frozen, no unknown fields, text stripped."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)
