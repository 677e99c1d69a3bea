"""Purchases and returns: the facts lifetime purchases, net revenue and loyalty points are
derived from. A bill number is accepted once; a return names its bill and takes back, within the
same database transaction, the share of the points that bill earned (loyalty/service.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from patron.clock import Clock
from patron.commerce import repository as repo
from patron.customers.service import active_state
from patron.db.database import Database, Queryable, Row
from patron.db.ids import next_id
from patron.errors import Conflict, NotFound, ValidationFailed
from patron.jsonio import dumps_text, loads
from patron.loyalty.service import Loyalty, SideEffects
from patron.tenancy.tills import Tills

RETURN_TYPES = ("AMOUNT", "FULL", "LINE_ITEM", "CANCELLED")
# Where a bill can come from: the sources of Capillary's transaction docs (a wider list than
# the customer APIs' profile sources).
TRANSACTION_SOURCES = ("INSTORE", "WECHAT", "MARTJACK", "WEB_ENGAGE", "ECOMMERCE", "JD",
                       "TAOBAO", "TMALL", "FACEBOOK", "WEBSITE", "OTHERS", "LINE")


@dataclass(frozen=True)
class LineItem:
    item_code: str
    amount: int  # thousandths
    qty: float = 1.0
    rate: int | None = None
    value: int | None = None
    discount: int = 0
    description: str = ""
    serial: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"itemCode": self.item_code, "amount": self.amount, "qty": self.qty,
                "rate": self.rate, "value": self.value, "discount": self.discount,
                "description": self.description, "serial": self.serial}


@dataclass(frozen=True)
class TransactionInput:
    type: str  # REGULAR | RETURN
    bill_number: str
    amount: int  # thousandths; for AMOUNT returns, the amount returned
    billed_at: int
    source: str = "INSTORE"
    return_type: str | None = None
    gross_amount: int | None = None
    discount: int = 0
    notes: str = ""
    line_items: list[LineItem] = field(default_factory=list)
    extended_fields: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TransactionOutcome:
    id: int
    effects: SideEffects


# How far a billing date may lie from now (Capillary's limits are set per organisation): a day
# ahead, for tills whose clocks run early; nothing before 1970.
FUTURE_BILL_MS = 86_400_000
# Per value that cannot be negative: the reason (Capillary's transaction docs give each its own
# code) and the message.
NEGATIVE = {
    "billAmount": ("negative_amount", "Transaction amount cannot be negative"),
    "discount": ("negative_discount", "Discount cannot be negative"),
    "grossAmount": ("negative_gross_amount", "Gross amount of the transaction cannot be negative"),
    "lineItemsV2.amount": ("negative_item_amount", "Amount of the line-item cannot be negative"),
    "lineItemsV2.value": ("negative_item_value", "Value of a line cannot be negative"),
    "lineItemsV2.rate": ("negative_item_rate", "Rate of a line-item cannot be negative"),
    "lineItemsV2.discount": ("negative_item_discount",
                             "Discount of a line-item cannot be negative"),
    "lineItemsV2.qty": ("negative_qty", "Quantity cannot be negative"),
}


def _check_values(data: TransactionInput, now_ms: int) -> None:
    """No value of a bill is negative, and its date lies within the accepted range."""
    values: list[tuple[str, float | int | None]] = [
        ("billAmount", data.amount), ("discount", data.discount),
        ("grossAmount", data.gross_amount)]
    for li in data.line_items:
        values += [("lineItemsV2.amount", li.amount), ("lineItemsV2.value", li.value),
                   ("lineItemsV2.rate", li.rate), ("lineItemsV2.discount", li.discount),
                   ("lineItemsV2.qty", li.qty)]
    for name, value in values:
        if value is not None and value < 0:
            reason, message = NEGATIVE[name]
            raise ValidationFailed(message, reason=reason, field=name)
    if data.billed_at > now_ms + FUTURE_BILL_MS:
        raise ValidationFailed("Invalid transaction. The transaction date exceeds the accepted "
                               "future date limit", reason="bill_date_future",
                               field="billingDate")
    if data.billed_at < 0:
        raise ValidationFailed("Invalid transaction. The transaction date cannot be less than "
                               "the accepted past date limit", reason="bill_date_past",
                               field="billingDate")


def _per_item(items: list[dict[str, Any]]) -> dict[str, tuple[float, int]]:
    """Line items (as stored) summed per item code: (quantity, amount in thousandths)."""
    out: dict[str, tuple[float, int]] = {}
    for li in items:
        qty, amount = out.get(li["itemCode"], (0.0, 0))
        out[li["itemCode"]] = (qty + float(li.get("qty") or 0), amount + int(li["amount"]))
    return out


class Commerce:
    @staticmethod
    async def scrub(tx: Queryable, org_id: int, customer_id: int) -> None:
        """Part of PII erasure: the notes and extended fields of the customer's bills."""
        await tx.execute(repo.SCRUB_BILL_TEXT, org_id, customer_id)

    def __init__(self, db: Database, clock: Clock, loyalty: Loyalty, tills: Tills) -> None:
        self.db = db
        self.clock = clock
        self.loyalty = loyalty
        self.tills = tills

    async def add_transaction(self, org_id: int, customer_id: int, data: TransactionInput,
                              till_id: int | None) -> TransactionOutcome:
        """Records a bill or a return and everything that follows from it, all or nothing."""
        _check_values(data, self.clock.now_ms())
        if not data.bill_number.strip():
            raise ValidationFailed("Transaction number is invalid", reason="invalid_bill_number",
                                   field="billNumber")
        if data.type == "RETURN":
            return await self._add_return(org_id, customer_id, data, till_id)
        if data.type != "REGULAR":
            raise ValidationFailed("Invalid transaction type passed. Only regular and return "
                                   "are supported.", reason="invalid_transaction_type",
                                   field="type")
        async with self.db.transaction() as tx:
            loyalty_type = await tx.fetchval(repo.ADD_TO_TOTALS, org_id, customer_id, data.amount)
            if loyalty_type is None:
                raise NotFound("Customer not found", reason="customer_not_found")
            # A non_loyalty customer's bill counts to its purchases and earns nothing.
            in_loyalty = loyalty_type == "loyalty"
            transaction_id = await next_id(tx)
            inserted = await tx.fetchval(
                repo.INSERT_TRANSACTION, org_id, transaction_id, customer_id, "REGULAR",
                data.bill_number, data.amount, data.billed_at, till_id, self.clock.now_ms(),
                data.source, None, None, data.gross_amount, data.discount,
                dumps_text([li.as_json() for li in data.line_items]), len(data.line_items),
                data.notes, dumps_text(data.extended_fields), in_loyalty)
            if inserted is None:
                raise Conflict("Transaction number already exists", reason="duplicate_bill",
                               field="billNumber")
            effects = await self.loyalty.on_purchase(
                tx, org_id, customer_id, transaction_id, data.amount, data.billed_at,
                till_id) if in_loyalty else SideEffects()
        return TransactionOutcome(transaction_id, effects)

    async def _add_return(self, org_id: int, customer_id: int, data: TransactionInput,
                          till_id: int | None) -> TransactionOutcome:
        kind = data.return_type
        if kind not in RETURN_TYPES:
            raise ValidationFailed("Return type is invalid", reason="invalid_return_type",
                                   field="returnType")
        async with self.db.transaction() as tx:
            await active_state(tx, org_id, customer_id)
            bill = await tx.fetchrow(repo.BILL_FOR_RETURN, org_id, data.bill_number)
            if bill is None or bill["customer_id"] != customer_id:
                raise NotFound("Transaction number does not exist", reason="bill_not_found",
                               field="billNumber")
            left = bill["amount"] - bill["returned_amount"]
            if left <= 0:
                raise Conflict("The entire transaction is already returned",
                               reason="bill_already_returned", field="billNumber")
            mixed = {bill["return_type"], kind} & {"AMOUNT", "LINE_ITEM"}
            if bill["return_type"] and len(mixed) == 2:
                if kind == "AMOUNT":
                    raise Conflict("Cannot return the transaction with the return type AMOUNT "
                                   "because the type LINE_ITEM has been used for it",
                                   reason="amount_after_line_item_return", field="returnType")
                raise Conflict("Cannot mix AMOUNT and LINE_ITEM returns of one transaction",
                               reason="mixed_return_types", field="returnType")
            earlier = [] if kind != "LINE_ITEM" else [
                li for r in await tx.fetch(repo.RETURNED_ITEMS, org_id, bill["id"])
                for li in loads(r["line_items"])]
            returned = self._returned_amount(kind, data, left, loads(bill["line_items"]),
                                             earlier)
            return_id = await next_id(tx)
            await tx.execute(
                repo.INSERT_TRANSACTION, org_id, return_id, customer_id, "RETURN",
                data.bill_number, returned, data.billed_at, till_id, self.clock.now_ms(),
                data.source, kind, bill["id"], data.gross_amount, data.discount,
                dumps_text([li.as_json() for li in data.line_items]), len(data.line_items),
                data.notes, dumps_text(data.extended_fields), bill["in_loyalty"])
            await tx.execute(repo.ADD_RETURNED, org_id, bill["id"], returned,
                             kind if kind in ("AMOUNT", "LINE_ITEM") else bill["return_type"])
            await tx.fetchval(repo.ADD_TO_TOTALS, org_id, customer_id, -returned)
            effects = await self.loyalty.on_return(
                tx, org_id, customer_id, bill["id"], return_id, returned, bill["amount"],
                bill["returned_amount"], till_id) if bill["in_loyalty"] else SideEffects()
        return TransactionOutcome(return_id, effects)

    @staticmethod
    def _returned_amount(kind: str, data: TransactionInput, left: int,
                         bill_items: list[dict[str, Any]],
                         earlier: list[dict[str, Any]]) -> int:
        """What a return takes back, in thousandths. A LINE_ITEM return takes back its items,
        each at most what the bill bought of that item less what earlier returns took back of
        it, in amount and in quantity."""
        if kind in ("FULL", "CANCELLED"):
            return left
        if kind == "AMOUNT":
            amount = data.amount
        else:
            if not data.line_items:
                raise ValidationFailed("Please pass line-items that need to be returned",
                                       reason="missing_return_items", field="lineItemsV2")
            bought = _per_item(bill_items)
            unknown = [li.item_code for li in data.line_items if li.item_code not in bought]
            if unknown:
                raise ValidationFailed(f"No matching line-item found for return: {unknown[0]}",
                                       reason="return_item_not_found", field="lineItemsV2")
            taken = _per_item(earlier)
            asked = _per_item([li.as_json() for li in data.line_items])
            for code, (qty, item_amount) in asked.items():
                had_qty, had_amount = bought[code]
                took_qty, took_amount = taken.get(code, (0.0, 0))
                if qty > had_qty - took_qty:
                    raise ValidationFailed(
                        f"Quantity of returned items are more than purchased: {code}",
                        reason="return_qty_exceeded", field="lineItemsV2")
                if item_amount > had_amount - took_amount:
                    raise ValidationFailed(
                        f"Amount of returned item is more than purchased item: {code}",
                        reason="return_item_amount_exceeded", field="lineItemsV2")
            amount = sum(li.amount for li in data.line_items)
        if amount <= 0:
            raise ValidationFailed("The return amount must be positive",
                                   reason="invalid_return_amount", field="billAmount")
        if amount > left:
            raise ValidationFailed("The return amount is more than the transaction amount left "
                                   "to return", reason="invalid_return_amount",
                                   field="billAmount")
        return amount

    async def transaction(self, org_id: int, transaction_id: int) -> tuple[Row, Row | None]:
        """The bill or return, and the till that recorded it (None without one)."""
        row = await self.db.fetchrow(repo.TRANSACTION, org_id, transaction_id)
        if row is None:
            raise NotFound("Unable to retrieve transaction", reason="transaction_not_found")
        till_id = row["till_id"]
        return row, (await self.tills.named(self.db, org_id, (till_id,))).get(till_id)

    async def record_purchase(self, org_id: int, customer_id: int, bill_number: str,
                              amount_thousandths: int, billed_at_ms: int,
                              till_id: int | None) -> int:
        """A regular bill with no line items (imports, the demo, tests)."""
        outcome = await self.add_transaction(org_id, customer_id, TransactionInput(
            "REGULAR", bill_number, amount_thousandths, billed_at_ms), till_id)
        return outcome.id
