"""Purchases and returns: the facts lifetime purchases and net revenue are derived from.

Issue 3 exposes this through Capillary's transaction API; until then it is reached by imports
and the demo loader. A bill number is accepted once per type.
"""

from __future__ import annotations

from patron.clock import Clock
from patron.db.database import Database
from patron.db.ids import next_id
from patron.db.statement import sql
from patron.errors import Conflict, NotFound, ValidationFailed

INSERT_TRANSACTION = sql(
    "INSERT INTO transactions (org_id, id, customer_id, type, bill_number, amount, billed_at, "
    "till_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
    "ON CONFLICT (org_id, type, bill_number) DO NOTHING RETURNING id"
)
ADD_TO_TOTALS = sql(
    "UPDATE customers SET lifetime_purchases = lifetime_purchases + $3, "
    "net_revenue = net_revenue + $3 WHERE org_id = $1 AND id = $2 RETURNING id"
)


class Commerce:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def record_purchase(self, org_id: int, customer_id: int, bill_number: str,
                              amount_thousandths: int, billed_at_ms: int,
                              till_id: int | None) -> int:
        if amount_thousandths < 0:
            raise ValidationFailed("a purchase amount cannot be negative", field="amount")
        async with self.db.transaction() as tx:
            transaction_id = await next_id(tx)
            inserted = await tx.fetchval(
                INSERT_TRANSACTION, org_id, transaction_id, customer_id, "REGULAR", bill_number,
                amount_thousandths, billed_at_ms, till_id, self.clock.now_ms())
            if inserted is None:
                raise Conflict(f"bill {bill_number} is already recorded", reason="duplicate_bill")
            if await tx.fetchval(ADD_TO_TOTALS, org_id, customer_id, amount_thousandths) is None:
                raise NotFound("Customer not found", reason="customer_not_found")
        return transaction_id
