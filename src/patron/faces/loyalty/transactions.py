"""The loyalty face's engine routes: Capillary's v2 transactions (add, bulk add/return, get), v1.1
points redemption (`isredeemable`, `redeem`), v2 redemption reversal, and Patron's own routes for
programs, promotional points, manual point and tier adjustments (docs/compat/loyalty.md).
"""

from __future__ import annotations

from datetime import tzinfo
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from fastapi import Body, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from patron.clock import iso_utc, parse_iso
from patron.commerce.service import TRANSACTION_SOURCES, LineItem, TransactionInput
from patron.errors import NotFound, PatronError, ValidationFailed
from patron.faces import FaceRouter, Svc, TextOrNumber, digits, request_json
from patron.faces.loyalty.errors import CODES, code_of, item
from patron.faces.loyalty.interactions import LEGACY_NAMES, legacy_identifier
from patron.faces.loyalty.render import points_value, program_view, tier_change_effect, till_full
from patron.faces.loyalty.routes import Reader, Writer, bulk_answer, ok, org_zone
from patron.faces.loyalty.v11 import ALL_FAILED, v11_response, wants_xml
from patron.jsonio import loads
from patron.loyalty.rules import thousandths
from patron.loyalty.service import SideEffects
from patron.services import Services

router = FaceRouter(tags=["loyalty (Capillary)"])

MAX_BULK = 100
# Amounts may arrive negative: Commerce refuses each with its own code.
Amount = Annotated[Decimal, Field(max_digits=18, decimal_places=3)]


class LineItemBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    itemCode: str = Field(min_length=1, max_length=200)
    amount: Amount = Decimal(0)
    qty: Annotated[float, Field(allow_inf_nan=False)] = 1.0
    rate: Amount | None = None
    value: Amount | None = None
    discount: Amount = Decimal(0)
    description: str = Field("", max_length=500)
    serial: TextOrNumber = ""


class TransactionBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = Field(max_length=40)
    billNumber: str = Field(min_length=1, max_length=200)
    billAmount: Amount | None = None  # required of a bill (601), as the docs mark it
    billingDate: str | None = None
    returnType: str | None = None
    discount: Amount = Decimal(0)
    grossAmount: Amount | None = None
    note: str = Field("", max_length=1000)
    lineItemsV2: list[LineItemBody] = Field(default_factory=list, max_length=500)
    extendedFields: dict[str, Any] = Field(default_factory=dict)

    def to_input(self, source: str, now_ms: int, zone: tzinfo) -> TransactionInput:
        """`zone`: the organisation's, for a `billingDate` without an offset (`org_zone`)."""
        try:
            billed_at = parse_iso(self.billingDate, zone) if self.billingDate else now_ms
        except ValueError:
            raise ValidationFailed("Transaction date is invalid", reason="invalid_billing_date",
                                   field="billingDate") from None
        if self.billAmount is None and self.type.upper() == "REGULAR":
            raise ValidationFailed("Transaction failed. Transaction amount, quantity, rate, or "
                                   "discount is invalid", reason="invalid_transaction_amount",
                                   field="billAmount")
        return TransactionInput(
            type=self.type.upper(), bill_number=self.billNumber.strip(),
            amount=thousandths(self.billAmount or 0), billed_at=billed_at, source=source,
            return_type=self.returnType.upper() if self.returnType else None,
            gross_amount=thousandths(self.grossAmount) if self.grossAmount is not None else None,
            discount=thousandths(self.discount), notes=self.note,
            line_items=[LineItem(li.itemCode, thousandths(li.amount), li.qty,
                                 thousandths(li.rate) if li.rate is not None else None,
                                 thousandths(li.value) if li.value is not None else None,
                                 thousandths(li.discount), li.description, str(li.serial))
                        for li in self.lineItemsV2],
            extended_fields=self.extendedFields)


def side_effects(effects: SideEffects, *, of_return: bool = False) -> list[dict[str, Any]]:
    """Capillary's `sideEffects`: a `points` entry per program (`returnedPoints` on a return,
    0 included) and Patron's `slab` entry per tier change."""
    out: list[dict[str, Any]] = []
    for program_id, points in effects.points.items():
        if points > 0 or (points == 0 and not of_return):
            out.append({"entityType": "USER",
                        "rawAwardedPoints": points_value(effects.raw_points.get(program_id,
                                                                                 points)),
                        "awardedPoints": points // 1000, "type": "points",
                        "programId": program_id})
        else:
            out.append({"entityType": "USER", "returnedPoints": points_value(-points),
                        "type": "points", "programId": program_id})
    out.extend(tier_change_effect(c) for c in effects.tier_changes)
    return out


def _source(value: Any) -> str:
    """The bill's source: INSTORE unless given; a value the transaction docs do not list is
    8003."""
    if value is None or value == "":
        return "INSTORE"
    if not isinstance(value, str) or value.upper() not in TRANSACTION_SOURCES:
        raise ValidationFailed("Invalid source", reason="invalid_source")
    return value.upper()


@router.post("/v2/transactions")
async def add_transaction(request: Request, svc: Svc, who: Writer,
                          body: TransactionBody) -> Response:
    params = request.query_params
    name, value = params.get("identifierName"), params.get("identifierValue")
    if not name or not value:
        raise ValidationFailed("Customer identifier is not passed",
                               reason="missing_bill_customer")
    source = _source(params.get("source"))
    customer_id = await svc.customers.resolve(who.org_id, name, value)
    outcome = await svc.commerce.add_transaction(
        who.org_id, customer_id,
        body.to_input(source, svc.clock.now_ms(),
                      await org_zone(svc, who.org_id, body.billingDate)), who.till_id)
    return ok({"createdId": outcome.id, "warnings": [], "errors": [],
               "sideEffects": side_effects(outcome.effects,
                                           of_return=body.type.upper() == "RETURN")})


def _amounts(parsed: TransactionBody, raw: dict[str, Any]) -> dict[str, float]:
    """The bill's amounts as the numbers they were read as, for the bulk answer's echo: the
    docs' example sends `"billAmount": "4800.0"` and answers `"billAmount": 4808`."""
    return {name: float(value) for name in ("billAmount", "discount", "grossAmount")
            if name in raw and (value := getattr(parsed, name)) is not None}


@router.post("/v2/transactions/bulk")
async def add_transactions(svc: Svc, who: Writer,
                           body: Annotated[list[Any], Body()]) -> Response:
    if len(body) > MAX_BULK:
        raise ValidationFailed(f"Batch limit exceeded: at most {MAX_BULK} transactions",
                               reason="batch_too_large")
    results, failures = [], 0
    zone = await org_zone(svc, who.org_id, *(
        raw["billingDate"] for raw in body
        if isinstance(raw, dict) and isinstance(raw.get("billingDate"), str)))
    for raw in body:
        entry: dict[str, Any] = {"result": raw, "errors": [], "warnings": []}
        try:
            parsed = TransactionBody.model_validate(raw)  # not an object: fails alone, 601
            name, value = raw.get("identifierType"), raw.get("identifierValue")
            if not name or value in (None, ""):
                raise ValidationFailed("Customer details not sent", reason="missing_customer")
            customer_id = await svc.customers.resolve(who.org_id, str(name), str(value))
            outcome = await svc.commerce.add_transaction(
                who.org_id, customer_id, parsed.to_input(_source(raw.get("source")),
                                                         svc.clock.now_ms(), zone), who.till_id)
            entry = {"entityId": outcome.id,
                     "result": {**raw, **_amounts(parsed, raw), "sideEffects": side_effects(
                         outcome.effects, of_return=parsed.type.upper() == "RETURN")},
                     "errors": [], "warnings": []}
        except ValidationError as exc:
            failures += 1
            entry["errors"] = [item(601, f"Transaction failed: {exc.errors()[0]['msg']}")]
        except PatronError as exc:
            failures += 1
            entry["errors"] = [item(code_of(exc), exc.message)]
        results.append(entry)
    return bulk_answer(results, failures)


NOT_INTERESTED = {"REGULAR": "NOT_INTERESTED", "RETURN": "NOT_INTERESTED_RETURN"}
# The `type` values `GET /v2/transactions/{id}` takes.
TRANSACTION_TYPES = (*NOT_INTERESTED, *NOT_INTERESTED.values())


@router.get("/v2/transactions/{transaction_id}")
async def get_transaction(transaction_id: str, request: Request, svc: Svc,
                          who: Reader) -> Response:
    if not digits(transaction_id):
        raise NotFound("Unable to retrieve transaction", reason="transaction_not_found")
    row, till = await svc.commerce.transaction(who.org_id, int(transaction_id))
    # A non_loyalty customer's bill and its returns are Capillary's NOT_INTERESTED types.
    shown_type = row["type"] if row["in_loyalty"] else NOT_INTERESTED[row["type"]]
    wanted = (request.query_params.get("type") or "REGULAR").upper()
    if wanted not in TRANSACTION_TYPES:
        raise ValidationFailed("Invalid transaction type passed. Only regular, return, "
                               "not_interested, and not_interested_return are supported.",
                               reason="invalid_transaction_type", field="type")
    if shown_type != wanted:
        raise NotFound("Unable to retrieve transaction", reason="transaction_not_found")
    points: dict[int, dict[str, float]] = {}
    for r in await svc.loyalty.transaction_points(who.org_id, row["id"]):
        entry = points.setdefault(r["program_id"], {"programId": r["program_id"],
                                                     "awardedPoints": 0.0, "returnedPoints": 0.0})
        if r["kind"] == "EARN":
            entry["awardedPoints"] = points_value(r["points"])
        elif r["kind"] == "RETURN":
            entry["returnedPoints"] = points_value(-r["points"])
    store = till_full(till)
    returned = row["returned_amount"]
    return_details = {"canceled": row["type"] == "REGULAR" and returned >= row["amount"]
                      and returned > 0, "returnedAmount": returned / 1000,
                      "returnType": row["return_type"]}
    recorded = iso_utc(row["created_at"])
    return ok({
        "id": row["id"], "customerId": row["customer_id"], "type": shown_type,
        # Patron never edits a bill: it was created and last modified when it was recorded.
        "attribution": {"createDate": recorded, "createdBy": store or {}, "modifiedBy": {},
                        "modifiedDate": recorded},
        "billDetails": {
            "amount": row["amount"] / 1000, "billingStore": store,
            "billNumber": row["bill_number"], "billingTime": iso_utc(row["billed_at"]),
            "discount": row["discount"] / 1000,
            "grossAmount": row["gross_amount"] / 1000 if row["gross_amount"] is not None
            else row["amount"] / 1000,
            "note": row["notes"],
            "returnDetails": return_details,
            "invalidBill": False,
        },
        "returnDetails": return_details,
        "outlierStatus": "NORMAL",  # Patron has no outlier detection
        "lineItems": [{"details": {
            "amount": li["amount"] / 1000, "description": li.get("description", ""),
            "discount": li.get("discount", 0) / 1000, "itemCode": li["itemCode"],
            "qty": li.get("qty", 1.0),
            "rate": (li.get("rate") or 0) / 1000, "serial": li.get("serial", ""),
            "value": (li.get("value") or 0) / 1000,
            # Any line may be returned, with no limit in days (returns above).
            "returnable": True, "returnableDays": -1}} for li in loads(row["line_items"])],
        "extendedFields": loads(row["extended_fields"]),
        "parentBillNumber": row["original_bill_number"],
        "autoUpdateTime": iso_utc(row["created_at"]),
        "pointsDetails": list(points.values()),
        "warnings": [],
    })


# -- v1.1 points redemption ---------------------------------------------------------------------

def _whole_points(raw: Any) -> int:
    if isinstance(raw, bool):  # JSON true is not a number of points
        raise ValidationFailed("Points you are trying to redeem are invalid",
                               reason="invalid_points")
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        raise ValidationFailed("Points you are trying to redeem are invalid",
                               reason="invalid_points") from None
    if value <= 0 or value != value.to_integral_value():
        raise ValidationFailed("Points you are trying to redeem are invalid",
                               reason="invalid_points")
    return int(value) * 1000


def _program_id(raw: str | None) -> int | None:
    if raw in (None, ""):
        return None
    if not digits(raw):
        raise NotFound("Invalid loyalty program ID passed", reason="program_not_found")
    return int(raw)


def _points_failure(exc: PatronError, redeemable: bool, echo: dict[str, Any],
                   as_xml: bool) -> Response:
    """v1.1's failure: `status` 500 and the item's own code (803, 816, ...)."""
    item_status = {"success": "false", "code": CODES.get(exc.reason, 817), "message": exc.message}
    status = {"success": "false", "code": 500, "message": ALL_FAILED}
    if redeemable:
        body = {"status": status, "points": {"redeemable": {
            **echo, "is_redeemable": "false", "item_status": item_status}}}
    else:
        body = {"status": status, "responses": {"points": {**echo, "item_status": item_status}}}
    return v11_response({"response": body}, 500, as_xml)


@router.get("/v1.1/points/isredeemable")
async def is_redeemable(request: Request, svc: Svc, who: Reader) -> Response:
    params = request.query_params
    as_xml = wants_xml(request)
    identifier = legacy_identifier(params)
    echo = {LEGACY_NAMES[identifier[0]] if identifier else "mobile":
            identifier[1] if identifier else "", "points": params.get("points", "")}
    try:
        if identifier is None:
            raise ValidationFailed("Mobile number/email id/external id you have entered is "
                                   "invalid", reason="invalid_points_customer")
        points = _whole_points(params.get("points"))
        customer_id = await svc.customers.resolve(who.org_id, *identifier)
        refusal, member, program = await svc.loyalty.redeemable(
            who.org_id, customer_id, _program_id(params.get("program_id")), points)
    except NotFound as exc:
        if exc.reason == "customer_not_found":
            exc = NotFound("Unable to find customer in this organization",
                           reason="points_customer_not_found")
        return _points_failure(exc, True, echo, as_xml)
    except PatronError as exc:
        return _points_failure(exc, True, echo, as_xml)
    ratio = program.program.points_to_currency_ratio
    can = refusal is None
    if refusal is None:
        status = {"success": "true", "code": 800, "message": "Points can be redeemed"}
    elif refusal.reason == "insufficient_points":
        status = {"success": "false", "code": 803, "message": "Unable to redeem. The points you "
                  "are trying to redeem is more than the available points"}
    else:  # e.g. 618, a customer marked as fraud
        status = {"success": "false", "code": CODES.get(refusal.reason, 817),
                  "message": refusal.message}
    return v11_response({"response": {
        "status": {"success": "true", "code": 200, "message": "SUCCESS"},
        "points": {"redeemable": {
            **echo, "is_redeemable": "true" if can else "false",
            "points_redeem_value": float(Decimal(points) / 1000 * ratio),
            "points_currency_ratio": str(ratio), "balance": points_value(member.points),
            "item_status": status}}}}, 200, as_xml)


class _RedeemCustomer(BaseModel):
    model_config = ConfigDict(extra="ignore")
    mobile: str | None = None
    email: str | None = None
    external_id: str | None = None
    card_number: str | None = None
    user_id: str | None = None


class _Redeem(BaseModel):
    model_config = ConfigDict(extra="ignore")
    points_redeemed: Any  # a whole number, or its text: _whole_points
    customer: _RedeemCustomer
    transaction_number: str = Field("", max_length=200)
    notes: str = Field("", max_length=1000)
    validation_code: str | None = None
    program_id: TextOrNumber | None = None  # the body's, as the v1.1 docs have it; or the query's


@router.post("/v1.1/points/redeem")
async def redeem(request: Request, svc: Svc, who: Writer) -> Response:
    as_xml = wants_xml(request)
    echo: dict[str, Any] = {}
    try:
        raw = request_json(await request.body() or b"{}", reason="invalid_points")
        root = raw.get("root") if isinstance(raw, dict) else None
        redeem_block = root.get("redeem") if isinstance(root, dict) else None
        entry = (redeem_block[0] if isinstance(redeem_block, list) and redeem_block
                 else redeem_block)
        try:
            body = _Redeem.model_validate(entry)
        except ValidationError:
            raise ValidationFailed("Points you are trying to redeem are invalid",
                                   reason="invalid_points") from None
        identifier = legacy_identifier(body.customer.model_dump())
        if identifier is None:
            raise ValidationFailed("Mobile number/email id/external id you have entered is "
                                   "invalid", reason="invalid_points_customer")
        echo = {LEGACY_NAMES[identifier[0]]: identifier[1]}
        points = _whole_points(body.points_redeemed)
        customer_id = await svc.customers.resolve(who.org_id, *identifier)
        asked = request.query_params.get("program_id")
        if asked in (None, "") and body.program_id is not None:
            asked = str(body.program_id)
        program = await svc.loyalty.program(who.org_id, _program_id(asked))
        redemption_id, member = await svc.loyalty.redeem(
            who.org_id, customer_id, program.id, points, body.transaction_number, body.notes,
            who.till_id)
    except NotFound as exc:
        if exc.reason == "customer_not_found":
            exc = NotFound("Unable to find customer in this organization",
                           reason="points_customer_not_found")
        return _points_failure(exc, False, echo, as_xml)
    except PatronError as exc:
        return _points_failure(exc, False, echo, as_xml)
    return v11_response({"response": {
        "status": {"success": "true", "code": 200, "message": "Success"},
        "responses": {"points": {
            **echo, "user_id": str(customer_id), "redemption_id": str(redemption_id),
            "points_redeemed": str(points // 1000),
            "redeemed_value": float(Decimal(points) / 1000
                                    * program.program.points_to_currency_ratio),
            "balance": points_value(member.points),
            "side_effects": {"effect": []},
            "item_status": {"success": "true", "code": 800, "message": "Points Redeemed"}}}}},
        200, as_xml)


class ReverseBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    redemptionId: TextOrNumber
    pointsToBeReversed: Decimal | None = None  # whole points, as the docs type it (int)
    identifier: dict[str, Any] | None = None


@router.post("/v2/points/reverse")
async def reverse_redemption(svc: Svc, who: Writer, body: ReverseBody) -> Response:
    raw_id = str(body.redemptionId)
    if not digits(raw_id):
        raise NotFound("Redemption ID does not exist", reason="redemption_not_found")
    asked = body.pointsToBeReversed
    if asked is not None and (asked <= 0 or asked != asked.to_integral_value()):
        raise ValidationFailed("Invalid points", reason="invalid_reversal",
                               field="pointsToBeReversed")
    points = thousandths(asked) if asked is not None else None
    named = None
    if body.identifier:
        try:
            named = await svc.customers.resolve(who.org_id, str(body.identifier.get("type", "")),
                                                str(body.identifier.get("value", "")))
        except NotFound:  # the points docs' code for customer details that name nobody, 904
            raise ValidationFailed("Invalid customer details passed",
                                   reason="redemption_customer_mismatch") from None
    reversed_points, member = await svc.loyalty.reverse(who.org_id, int(raw_id), points,
                                                        who.till_id, customer_id=named)
    return ok({"redemptionId": raw_id,
               "pointsToBeReversed": points_value(points or reversed_points),
               "orgId": who.org_id, "identifier": body.identifier,
               "customerId": member.customer_id, "pointsReversed": points_value(reversed_points),
               "warnings": []})


# -- Patron's own: programs, promotions, manual adjustments ----------------------------------------

@router.get("/v2/loyalty/programs")
async def list_programs(svc: Svc, who: Reader) -> Response:
    programs = await svc.loyalty.programs(who.org_id)
    return ok({"data": [program_view(p) for p in programs], "warnings": []})


@router.get("/v2/loyalty/programs/{program_id}")
async def get_program(program_id: str, svc: Svc, who: Reader) -> Response:
    return ok({"data": program_view(await svc.loyalty.program(who.org_id,
                                                              _program_id(program_id) or 0)),
               "warnings": []})


class MemberBody(BaseModel):
    """The customer (by identifier) and program a Patron loyalty route acts on."""

    model_config = ConfigDict(extra="forbid")
    identifierName: str
    identifierValue: str
    programId: int | None = None

    async def customer_id(self, svc: Services, org_id: int) -> int:
        return await svc.customers.resolve(org_id, self.identifierName, self.identifierValue)


class PromotionBody(MemberBody):
    points: Decimal = Field(gt=0, max_digits=15, decimal_places=3)
    promotionName: str = Field(min_length=1, max_length=200)
    promotionSourceType: str = Field("GOODWILL", max_length=60)
    promotionSourceId: str | None = Field(None, max_length=100)
    expiryDate: str | None = None


@router.post("/v2/loyalty/promotionalPoints")
async def award_promotion(svc: Svc, who: Writer, body: PromotionBody) -> Response:
    customer_id = await body.customer_id(svc, who.org_id)
    try:
        expires = parse_iso(body.expiryDate, await org_zone(svc, who.org_id, body.expiryDate)) \
            if body.expiryDate else None
    except ValueError:
        raise ValidationFailed("expiryDate must be an ISO 8601 date-time",
                               field="expiryDate") from None
    effects = await svc.loyalty.award_promotion(
        who.org_id, customer_id, body.programId, thousandths(body.points), body.promotionName,
        body.promotionSourceType, body.promotionSourceId, expires, who.till_id)
    return ok({"customerId": customer_id, "sideEffects": side_effects(effects), "warnings": []})


class AdjustmentBody(MemberBody):
    points: Decimal = Field(max_digits=15, decimal_places=3)
    reason: str = Field(min_length=1, max_length=500)


@router.post("/v2/loyalty/pointsAdjustments")
async def adjust_points(svc: Svc, who: Writer, body: AdjustmentBody) -> Response:
    customer_id = await body.customer_id(svc, who.org_id)
    member = await svc.loyalty.adjust_points(who.org_id, customer_id, body.programId,
                                             thousandths(body.points), body.reason, who.till_id)
    return ok({"customerId": customer_id, "programId": member.program_id,
               "loyaltyPoints": points_value(member.points),
               "adjusted": points_value(member.adjusted_points), "warnings": []})


class TierAdjustmentBody(MemberBody):
    slabName: str = Field(min_length=1, max_length=100)
    notes: str = Field(min_length=1, max_length=500)


@router.post("/v2/loyalty/tierAdjustments")
async def adjust_tier(svc: Svc, who: Writer, body: TierAdjustmentBody) -> Response:
    customer_id = await body.customer_id(svc, who.org_id)
    change = await svc.loyalty.adjust_tier(who.org_id, customer_id, body.programId,
                                           body.slabName, body.notes, who.till_id)
    return ok({"customerId": customer_id, "sideEffects": [tier_change_effect(change)],
               "warnings": []})
