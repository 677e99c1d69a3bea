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
from patron.tenancy.tills import Tills

# Capillary's statuses (its fraud methodology page), in the API's upper-case spelling.
STATUSES = ("MARKED", "CONFIRMED", "RECONFIRMED", "NOT_FRAUD", "INTERNAL")
# Marked is a suspicion, not yet confirmed; Not_Fraud and Internal (test users) allow everything.
REDEMPTION_BLOCKED = frozenset({"CONFIRMED", "RECONFIRMED"})


class MarkedAsFraud(PatronError):
    status = 400
    reason = "customer_marked_fraud"


@dataclass(frozen=True)
class FraudStatus:
    """A customer's fraud status; `status` is None when it was never set. `marked_by` is the
    marking till's row (tenancy/tills.py), None without a till."""

    status: str | None
    modified_at: int | None
    marked_by: Row | None


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
    def __init__(self, db: Database, clock: Clock, tills: Tills) -> None:
        self.db = db
        self.clock = clock
        self.tills = tills

    async def _status(self, conn: Queryable, org_id: int, row: Row | None) -> FraudStatus:
        """The status a customer row (`c.*` or GET_FRAUD_STATUS) holds, with its marking till."""
        if row is None or row["fraud_status"] is None:
            return FraudStatus(None, None, None)
        marked_by = row["fraud_marked_by"]
        till = None if marked_by is None else \
            (await self.tills.named(conn, org_id, (marked_by,))).get(marked_by)
        return FraudStatus(row["fraud_status"], row["fraud_modified_at"], till)

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
            return await self._status(tx, org_id, await tx.fetchrow(repo.GET_FRAUD_STATUS,
                                                                      org_id, customer_id))

    async def status_of(self, org_id: int, customer: Row) -> FraudStatus:
        """The fraud status of a customer row as customer details read it (`c.*`)."""
        return await self._status(self.db, org_id, customer)

    @staticmethod
    async def scrub(tx: Queryable, org_id: int, customer_id: int) -> None:
        """Part of PII erasure: the status says something about a person who asked to be
        forgotten, and once the identifiers are released it can no longer stop anyone."""
        await tx.execute(repo.CLEAR_FRAUD_STATUS, org_id, customer_id)
