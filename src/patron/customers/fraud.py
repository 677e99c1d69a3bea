"""A customer's fraud status: who marked it and when, and what it forbids.

Capillary sets fraud status in its own UI or by data import and documents no API for it; Patron's
loyalty face offers one (docs/compat/loyalty.md, "Fraud status"). The one rule a status carries is
here: a CONFIRMED or RECONFIRMED customer may not redeem points (Capillary's 618), whichever route
asks (`ensure_may_redeem`, called by the loyalty engine inside its redemption transaction).
"""

from __future__ import annotations

from dataclasses import dataclass

from patron.clock import Clock
from patron.customers import repository as repo
from patron.customers.service import active_state
from patron.db.database import Database, Queryable, Row
from patron.errors import PatronError, ValidationFailed

# Capillary's statuses (its fraud methodology page), in the API's upper-case spelling.
STATUSES = ("MARKED", "CONFIRMED", "RECONFIRMED", "NOT_FRAUD", "INTERNAL")
# Marked is a suspicion, not yet confirmed; Not_Fraud and Internal (test users) allow everything.
REDEMPTION_BLOCKED = frozenset({"CONFIRMED", "RECONFIRMED"})


class MarkedAsFraud(PatronError):
    status = 400
    reason = "customer_marked_fraud"


@dataclass(frozen=True)
class FraudStatus:
    """A customer's fraud status; `status` is None when it was never set. `marked_by` is a row
    with the marking till's `fm_id`, `fm_code`, `fm_name`, `fm_type` (all None without a till)."""

    status: str | None
    modified_at: int | None
    marked_by: Row | None

    @classmethod
    def of(cls, row: Row | None) -> FraudStatus:
        if row is None or row["fraud_status"] is None:
            return cls(None, None, None)
        return cls(row["fraud_status"], row["fraud_modified_at"], row)


def status_named(value: str) -> str:
    """The canonical spelling of a status (`Not_Fraud` -> `NOT_FRAUD`), or ValidationFailed."""
    canonical = value.strip().upper()
    if canonical not in STATUSES:
        raise ValidationFailed(f"Invalid fraud status {value!r}: one of {', '.join(STATUSES)}",
                               reason="invalid_fraud_status", field="status")
    return canonical


async def ensure_may_redeem(conn: Queryable, org_id: int, customer_id: int) -> None:
    status = await conn.fetchval(repo.GET_FRAUD_STATE, org_id, customer_id)
    if status in REDEMPTION_BLOCKED:
        raise MarkedAsFraud("Not allowed - customer is marked as fraud.")


class Fraud:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def set_status(self, org_id: int, customer_id: int, status: str,
                         till_id: int | None) -> FraudStatus:
        """Record `status` as set now by `till_id` (None: a credential without a till). Any
        status may follow any other: Capillary's path (Marked, Confirmed, Reconfirmed) is a
        practice of its operators, not a rule of its API."""
        canonical = status_named(status)
        async with self.db.transaction() as tx:
            await active_state(tx, org_id, customer_id)
            await tx.execute(repo.SET_FRAUD_STATUS, org_id, customer_id, canonical, till_id,
                             self.clock.now_ms())
            return FraudStatus.of(await tx.fetchrow(repo.GET_FRAUD_STATUS, org_id, customer_id))

    async def status_of(self, org_id: int, customer: Row) -> FraudStatus:
        """The fraud status of a customer row as customer details read it (`c.*`): the
        marking till is read only when there is one, so a customer never marked costs nothing."""
        if customer["fraud_status"] is None:
            return FraudStatus(None, None, None)
        if customer["fraud_marked_by"] is None:
            return FraudStatus(customer["fraud_status"], customer["fraud_modified_at"], None)
        return FraudStatus.of(await self.db.fetchrow(repo.GET_FRAUD_STATUS, org_id,
                                                     customer["id"]))

    @staticmethod
    async def scrub(tx: Queryable, org_id: int, customer_id: int) -> None:
        """Part of PII erasure: the status says something about a person who asked to be
        forgotten, and once the identifiers are released it can no longer stop anyone."""
        await tx.execute(repo.CLEAR_FRAUD_STATUS, org_id, customer_id)
