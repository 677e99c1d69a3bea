"""PII erasure: the one place that knows everything a scrub must reach, and the deletion
requests (Capillary's `/v2/requests`) that lead to it.

`erase()` scrubs the customer's personal data in every domain that holds some (profiles,
identifiers, fields and images; PSI attributes and de-duplication keys of behavioural events;
the contents and addresses of messages and the reasons of subscription changes; segment
memberships and the fraud status; the free text a client wrote on the customer's bills, cards,
redemptions, points movements and tier changes; the identifier deletion requests were made by)
and takes the customer out of their user groups, in one transaction. A
request's approval and the workspace face's DELETE both come here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from patron.cards.service import Cards
from patron.clock import Clock
from patron.commerce.service import Commerce
from patron.customers.fraud import Fraud
from patron.customers.service import Customers
from patron.db.database import Database, Queryable
from patron.db.ids import next_id
from patron.db.statement import locking, sql
from patron.engagement.service import Engagement
from patron.errors import NotFound, PatronError, ValidationFailed
from patron.events.service import Events
from patron.groups.service import Groups
from patron.idempotency.service import Idempotency
from patron.jsonio import dumps_text
from patron.loyalty.service import Loyalty
from patron.segments.service import Segments

PENDING = "PENDING"
DECISIONS = ("APPROVED", "REJECTED", "CANCELLED")

INSERT_REQUEST = sql(
    "INSERT INTO requests (org_id, id, type, base_type, status, comments, customer_id, "
    "identification, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)"
)
GET_REQUEST = sql(
    "SELECT id, type, base_type, status, customer_id FROM requests WHERE org_id = $1 AND id = $2"
)
LOCK_REQUEST = locking(GET_REQUEST)
# Once a customer is erased, their requests no longer hold the identifier they were made by,
# nor the comments written with them or their decision, which can name the person.
FORGET_REQUESTED_IDENTIFIERS = sql(
    "UPDATE requests SET identification = '{}', comments = '' WHERE org_id = $1 "
    "AND customer_id = $2"
)
DECIDE_REQUEST = sql(
    "UPDATE requests SET status = $3, comments = $4, updated_at = $5 WHERE org_id = $1 AND id = $2"
)


@dataclass
class Decision:
    request_id: str
    error: PatronError | None = None


class PrivacyRequests:
    def __init__(self, db: Database, clock: Clock, customers: Customers, events: Events,
                 engagement: Engagement, segments: Segments, fraud: Fraud,
                 groups: Groups) -> None:
        self.db = db
        self.clock = clock
        self.customers = customers
        self.events = events
        self.engagement = engagement
        self.segments = segments
        self.fraud = fraud
        self.groups = groups

    async def erase(self, tx: Queryable, org_id: int, customer_id: int) -> bool:
        """Erase an active customer (False: not one, nothing done). Their row is locked first,
        as every write about them locks it (customers.service.active_state): a write that began
        before commits first, one that waited finds them deleted, and two erasures of one
        customer take turns, the second finding nothing to do."""
        if not await self.customers.is_active(tx, org_id, customer_id):
            return False
        await self.customers.scrub_pii(tx, org_id, customer_id)
        await self.events.scrub(tx, org_id, customer_id)
        await self.engagement.scrub_pii(tx, org_id, customer_id)
        await self.segments.scrub(tx, org_id, customer_id)
        await self.fraud.scrub(tx, org_id, customer_id)
        await self.groups.remove_customer(tx, org_id, customer_id)
        await Commerce.scrub(tx, org_id, customer_id)
        await Cards.scrub(tx, org_id, customer_id)
        await Loyalty.scrub(tx, org_id, customer_id)
        await tx.execute(FORGET_REQUESTED_IDENTIFIERS, org_id, customer_id)
        await Idempotency.forget_answers(tx, org_id)
        return True

    async def delete_customer(self, org_id: int, customer_id: int) -> None:
        """Soft delete with the full PII scrub (the workspace face's DELETE)."""
        async with self.db.transaction() as tx:
            if not await self.erase(tx, org_id, customer_id):
                raise NotFound("Customer not found", reason="customer_not_found")
        self.db.wipe_old_copies()

    async def raise_deletion(self, org_id: int, request_type: str, base_type: str,
                             identification: dict[str, Any], comments: str) -> int:
        if request_type != "CUSTOMER":
            raise ValidationFailed("Request Type is invalid", reason="invalid_request_type")
        if base_type != "DELETE":
            raise ValidationFailed("Request Base Type is invalid",
                                   reason="invalid_request_base_type")
        if len(comments) > 255:
            raise ValidationFailed("comments are limited to 255 characters", field="comments")
        customer_id = await self.customers.resolve(
            org_id, str(identification.get("identifierType") or ""),
            str(identification.get("identifierValue") or ""))
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            request_id = await next_id(tx)
            await tx.execute(INSERT_REQUEST, org_id, request_id, request_type, base_type, PENDING,
                             comments, customer_id, dumps_text(identification), now)
        return request_id

    async def decide(self, org_id: int, request_id: str, status: str, comments: str) -> Decision:
        """One item of a `PUT /v2/requests` batch; errors are per item, never the batch's."""
        try:
            numeric = int(request_id)
        except (TypeError, ValueError):
            return Decision(str(request_id), NotFound("Request not found",
                                                      reason="request_not_found"))
        if status not in DECISIONS:
            return Decision(request_id, ValidationFailed("Invalid request status",
                                                         reason="invalid_request_status"))
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(GET_REQUEST, org_id, numeric)
            if row is None:
                return Decision(request_id, NotFound("Request not found",
                                                     reason="request_not_found"))
            # The customer's row is locked before the request's (PostgreSQL), in the order an
            # erasure takes them (it holds the customer's and updates all their requests): two
            # decisions of one customer's requests take turns instead of deadlocking.
            await self.customers.is_active(tx, org_id, int(row["customer_id"]))
            row = await tx.fetchrow(LOCK_REQUEST, org_id, numeric)
            if row["status"] != PENDING:
                return Decision(request_id, ValidationFailed(
                    f"Request is already {row['status']}", reason="invalid_request_status"))
            await tx.execute(DECIDE_REQUEST, org_id, numeric, status, comments[:255],
                             self.clock.now_ms())
            if status == "APPROVED":
                await self.erase(tx, org_id, int(row["customer_id"]))
        if status == "APPROVED":
            self.db.wipe_old_copies()
        return Decision(request_id)
