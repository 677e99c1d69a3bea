"""Loyalty programs as declared in a program file: tiers, upgrade strategy, earning, expiry.

A program file is YAML (docs/loyalty.md shows one whole). It is validated whole: the first
problem rejects the file with its line and reason, and nothing is applied. The validated
`Program` is what the engine's rules read; it is stored as JSON beside each program, so applying a
new file changes what happens next and never what already happened (points earned, tier changes).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

UPGRADE_STRATEGIES = ("CUMULATIVE_PURCHASES", "CURRENT_POINTS", "CUMULATIVE_POINTS",
                      "TRACKER_VALUE_BASED")
TRACKER_TYPES = ("TRANSACTION_AMOUNT", "VISITS", "LINEITEM_COUNT")


class _Problem(ValueError):
    """A rule over several fields, with the path (below the model) of the field it names."""

    def __init__(self, message: str, *path: str | int) -> None:
        super().__init__(message)
        self.path = path


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class Tracker(_Strict):
    name: str = Field(min_length=1)
    type: Literal["TRANSACTION_AMOUNT", "VISITS", "LINEITEM_COUNT"]
    window_days: int = Field(alias="windowDays", ge=1, le=3660)
    # Capillary's trackers hold named cases (a condition and its period); a Patron tracker is
    # one case, its window, named here (`trackerCaseName` in customer details).
    case_name: str = Field("Case1", alias="caseName", min_length=1, max_length=100)


class Upgrade(_Strict):
    strategy: Literal["CUMULATIVE_PURCHASES", "CURRENT_POINTS", "CUMULATIVE_POINTS",
                      "TRACKER_VALUE_BASED"]
    tracker: Tracker | None = None

    @model_validator(mode="after")
    def _tracker_when_tracked(self) -> Upgrade:
        if (self.strategy == "TRACKER_VALUE_BASED") != (self.tracker is not None):
            raise ValueError("a tracker is required with TRACKER_VALUE_BASED and only with it")
        return self


class Retention(_Strict):
    """What a member must reach within a tier period to keep the tier at its expiry; a tier
    without one renews unconditionally (it has no downgrade rule)."""

    min_purchases: Decimal = Field(Decimal(0), alias="minPurchases", ge=0)
    min_visits: int = Field(0, alias="minVisits", ge=0)
    min_points: Decimal = Field(Decimal(0), alias="minPoints", ge=0)
    min_tracker_value: Decimal = Field(Decimal(0), alias="minTrackerValue", ge=0)
    downgrade_to: str | None = Field(None, alias="downgradeTo")


class Tier(_Strict):
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    # The strategy's value at which a member reaches this tier; the base tier has none.
    threshold: Decimal | None = Field(None, ge=0)
    # Points per currency unit of a purchase, in this tier.
    points_per_currency: Decimal = Field(Decimal(0), alias="pointsPerCurrency", ge=0)
    validity_days: int | None = Field(None, alias="validityDays", ge=1, le=36500)
    retention: Retention | None = None


class PointsExpiry(_Strict):
    days: int = Field(ge=1, le=36500)


class Program(_Strict):
    id: int = Field(ge=1, lt=2**53)
    name: str = Field(min_length=1, max_length=100)
    description: str = ""
    default: bool = False
    points_to_currency_ratio: Decimal = Field(Decimal(1), alias="pointsToCurrencyRatio", gt=0)
    # Earned points are whole points; this says which way a fraction goes.
    rounding: Literal["FLOOR", "ROUND", "CEIL"] = "FLOOR"
    points_expiry: PointsExpiry | None = Field(None, alias="pointsExpiry")
    upgrade: Upgrade
    tiers: list[Tier] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _tiers_in_order(self) -> Program:
        names = [t.name.lower() for t in self.tiers]
        for n, name in enumerate(names):
            if name in names[:n]:
                raise _Problem("tier names must be unique within a program", "tiers", n, "name")
        if self.tiers[0].threshold is not None:
            raise _Problem("the first (base) tier has no threshold", "tiers", 0, "threshold")
        previous = Decimal(-1)
        for n, tier in enumerate(self.tiers[1:], start=1):
            if tier.threshold is None or tier.threshold <= previous:
                raise _Problem(f"tier {tier.name}: thresholds must rise from tier to tier",
                               "tiers", n, "threshold")
            previous = tier.threshold
        for serial, tier in enumerate(self.tiers, start=1):
            target = tier.retention.downgrade_to if tier.retention else None
            where = ("tiers", serial - 1, "retention", "downgradeTo")
            if target is not None:
                if target.lower() not in names:
                    raise _Problem(f"tier {tier.name}: downgradeTo names no tier of this "
                                   "program", *where)
                if names.index(target.lower()) + 1 >= serial:
                    raise _Problem(f"tier {tier.name}: downgradeTo must name a lower tier",
                                   *where)
        return self

    def tier(self, serial: int) -> Tier:
        return self.tiers[min(max(serial, 1), len(self.tiers)) - 1]

    def serial_of(self, name: str) -> int | None:
        for serial, tier in enumerate(self.tiers, start=1):
            if tier.name.lower() == name.lower():
                return serial
        return None

    def downgrade_target(self, serial: int) -> int:
        tier = self.tier(serial)
        target = tier.retention.downgrade_to if tier.retention else None
        return (self.serial_of(target) or 1) if target else max(serial - 1, 1)


class ProgramFile(_Strict):
    programs: list[Program] = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_default(self) -> ProgramFile:
        ids = [p.id for p in self.programs]
        for n, program_id in enumerate(ids):
            if program_id in ids[:n]:
                raise _Problem("program ids must be unique", "programs", n, "id")
        defaults = [n for n, p in enumerate(self.programs) if p.default]
        if len(defaults) > 1:
            raise _Problem("at most one program is the default", "programs", defaults[1],
                           "default")
        return self

    def default_program(self) -> Program:
        return next((p for p in self.programs if p.default), self.programs[0])


class ProgramFileError(ValueError):
    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(f"line {line}: {reason}" if line else reason)
        self.line = line
        self.reason = reason


def read_program_file(text: str) -> ProgramFile:
    """The file's programs, or `ProgramFileError` naming the first problem's line."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ProgramFileError(mark.line + 1 if mark else None,
                               f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise ProgramFileError(1, "a program file is a mapping with a `programs` list")
    try:
        return ProgramFile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        problem = (first.get("ctx") or {}).get("error")
        loc = (*first["loc"], *problem.path) if isinstance(problem, _Problem) else first["loc"]
        first = {**first, "loc": loc}
        where = ".".join(str(p) for p in loc)
        message = first["msg"].removeprefix("Value error, ")
        raise ProgramFileError(_line_of(root, first["loc"]),
                               f"{where}: {message}" if where else message) from None


def _line_of(node: Any, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the YAML node at a validation error's location (or of its nearest
    ancestor that exists: a missing field is reported at the mapping that lacks it)."""
    for key in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == key), None)
            if found is None:
                break
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and \
                key < len(node.value):
            node = node.value[key]
        else:
            break
    return node.start_mark.line + 1 if node is not None else None


def program_from_json(data: dict[str, Any]) -> Program:
    return Program.model_validate(data)


def program_json(program: Program) -> dict[str, Any]:
    return program.model_dump(mode="json", by_alias=True, exclude_none=True)
