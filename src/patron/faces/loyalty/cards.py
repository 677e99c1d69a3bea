"""The loyalty face's card routes: Capillary's card series, card generation, cards and their
status, status labels, and issuing or delinking a card with `changeIdentifier`
(docs/compat/loyalty.md, "Cards")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from patron.cards.service import CardChange, SeriesInput, card_error, series_not_found
from patron.customers.models import CustomerInput, Identifier, ProfileInput, Provenance
from patron.customers.normalize import identifier_type
from patron.errors import PatronError, ValidationFailed
from patron.faces import FaceRouter, Svc, TextOrNumber, path_id
from patron.faces.loyalty import render
from patron.faces.loyalty.errors import code_of, item, warning
from patron.faces.loyalty.routes import Reader, Writer, _customer_id, _source, bulk_answer, ok
from patron.jsonio import loads

router = FaceRouter(tags=["loyalty (Capillary)"])

MAX_BULK = 200


class GenerationBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    prefix: str = Field("", max_length=50)
    suffix: str = Field("", max_length=50)
    length: int | None = None
    offset: int = 1
    method: str = "DEFAULT"


class SeriesBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    code: str = Field("", max_length=200)
    name: str = Field("", max_length=200)
    description: str = Field("", max_length=1000)
    type: str = ""
    expiryDays: int | None = None
    cardExpiryEnabled: bool = True
    cardGenerationConfiguration: GenerationBody | None = None
    cardGenerationEnabled: bool = False
    isActive: bool = True
    trigger: str = "SERIES_ID"
    maxActiveCardsPerCustomer: int = 0

    def to_input(self) -> SeriesInput:
        _check_trigger(self.trigger)
        g = self.cardGenerationConfiguration or GenerationBody()
        return SeriesInput(
            code=self.code.strip(), type=self.type.strip().upper(), name=self.name,
            description=self.description, expiry_days=self.expiryDays,
            card_expiry_enabled=self.cardExpiryEnabled,
            max_active_cards=self.maxActiveCardsPerCustomer,
            generation_enabled=self.cardGenerationEnabled,
            generation_method=g.method.upper(), prefix=g.prefix, suffix=g.suffix,
            number_length=g.length, offset=g.offset, is_active=self.isActive)


def _check_trigger(trigger: str) -> None:
    if trigger.upper() != "SERIES_ID":
        raise card_error(701, f"Invalid configurations set: trigger {trigger} is not supported")


# The series fields a PUT may change, by body name.
_SERIES_CHANGES = {
    "name": "name", "description": "description", "expiryDays": "expiry_days",
    "cardExpiryEnabled": "card_expiry_enabled", "isActive": "is_active",
    "maxActiveCardsPerCustomer": "max_active_cards",
    "cardGenerationEnabled": "generation_enabled",
}
_GENERATION_CHANGES = {"prefix": "prefix", "suffix": "suffix", "length": "number_length",
                       "offset": "offset", "method": "generation_method"}


class GenerateBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    seriesId: int
    count: int
    statusLabel: str


class StatusInfoBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    reason: str = Field("", max_length=500)


class MappedEntityBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: str = "TILL"
    value: str = Field(min_length=1, max_length=200)


class CardBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    seriesId: int
    cardNumber: str | None = Field(None, max_length=200)
    cardExternalId: str | None = Field(None, max_length=200)
    statusLabel: str | None = Field(None, max_length=100)
    statusInfo: StatusInfoBody = StatusInfoBody()
    customFields: dict[str, Any] | None = None
    extendedFields: dict[str, Any] | None = None
    mappedEntity: MappedEntityBody | None = None

    def change(self) -> CardChange:
        if not self.cardNumber and not self.cardExternalId:
            raise card_error(3010, "Card number does not exists")
        if self.mappedEntity is not None and self.mappedEntity.type.upper() != "TILL":
            raise card_error(3049, "Mapped Entity Type Passed is invalid")
        return CardChange(
            series_id=self.seriesId, label=self.statusLabel or "",
            card_number=self.cardNumber, card_external_id=self.cardExternalId,
            reason=self.statusInfo.reason, custom_fields=self.customFields,
            extended_fields=self.extendedFields,
            mapped_till_code=self.mappedEntity.value if self.mappedEntity else None)


class LabelBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    status: str = Field(max_length=40)
    label: str = Field(max_length=200)


class IdentifierChange(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = Field(max_length=40)
    value: TextOrNumber


class ChangeIdentifierBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    add: list[IdentifierChange] = Field(default_factory=list, max_length=20)
    remove: list[IdentifierChange] = Field(default_factory=list, max_length=20)


# -- series ------------------------------------------------------------------------------------

@router.post("/v2/card/series")
async def add_series(svc: Svc, who: Writer, body: SeriesBody) -> Response:
    series_id = await svc.cards.add_series(who.org_id, body.to_input(), who.till_id)
    return ok({"entity": series_id, "warnings": []})


@router.put("/v2/card/series/{series_id}")
async def update_series(series_id: str, svc: Svc, who: Writer,
                        body: Annotated[dict[str, Any], Body()]) -> Response:
    changes: dict[str, Any] = {}
    try:
        parsed = SeriesBody.model_validate({"code": "x", "type": "DIGITAL", **body})
    except ValidationError as exc:
        raise ValidationFailed(f"invalid card series: {exc.errors()[0]['msg']}",
                               reason="card_3000") from None
    if "trigger" in body:
        _check_trigger(parsed.trigger)
    for name, attr in _SERIES_CHANGES.items():
        if name in body:
            changes[attr] = getattr(parsed, name)
    generation = body.get("cardGenerationConfiguration")
    if isinstance(generation, dict) and parsed.cardGenerationConfiguration is not None:
        for name, attr in _GENERATION_CHANGES.items():
            if name in generation:
                value = getattr(parsed.cardGenerationConfiguration, name)
                changes[attr] = value.upper() if name == "method" else value
    row = await svc.cards.update_series(who.org_id, path_id(series_id, series_not_found),
                                        changes, who.till_id)
    return ok({**render.card_series(row, who.org_id), "warnings": []})


@router.get("/v2/card/series/get/all")
async def all_series(svc: Svc, who: Reader) -> Response:
    rows = await svc.cards.all_series(who.org_id)
    return ok({"data": [render.card_series(r, who.org_id) for r in rows], "warnings": [],
               "errors": []})


@router.get("/v2/card/series/{series_id}")
async def get_series(series_id: str, svc: Svc, who: Reader) -> Response:
    row = await svc.cards.series(who.org_id, path_id(series_id, series_not_found))
    return ok({**render.card_series(row, who.org_id), "warnings": []})


# -- cards -------------------------------------------------------------------------------------

@router.post("/v2/card/generate")
async def generate_cards(svc: Svc, who: Writer, body: GenerateBody) -> Response:
    numbers = await svc.cards.generate(who.org_id, body.seriesId, body.count, body.statusLabel,
                                       who.till_id)
    return ok({"entity": numbers, "warnings": []})


@router.post("/v2/card")
async def add_card(svc: Svc, who: Writer, body: CardBody) -> Response:
    card_id = await svc.cards.add(
        who.org_id, body.seriesId, (body.cardNumber or "").strip(), body.cardExternalId,
        body.statusLabel, body.statusInfo.reason, body.customFields or {},
        body.extendedFields or {}, who.till_id)
    return ok({"entity": card_id, "warnings": []})


@router.put("/v2/card")
async def update_card(svc: Svc, who: Writer, body: CardBody) -> Response:
    changed = await svc.cards.change(who.org_id, body.change(), who.till_id)
    return ok({**render.card(changed.card), "warnings": [warning(w) for w in changed.warnings]})


@router.put("/v2/card/bulk")
async def update_cards(svc: Svc, who: Writer,
                       body: Annotated[list[dict[str, Any]], Body()]) -> Response:
    if len(body) > MAX_BULK:
        raise ValidationFailed(f"Exceeded maximum limit size of {MAX_BULK}.",
                               reason="batch_too_large")
    results, failures = [], 0
    for raw in body:
        try:
            changed = await svc.cards.change(who.org_id, CardBody.model_validate(raw).change(),
                                             who.till_id)
            results.append({"entityId": render.card(changed.card), "errors": [],
                            "warnings": [warning(w) for w in changed.warnings]})
        except ValidationError as exc:
            failures += 1
            results.append({"entityId": raw, "errors": [
                item(3000, f"Invalid card: {exc.errors()[0]['msg']}")], "warnings": []})
        except PatronError as exc:
            failures += 1
            results.append({"entityId": raw, "errors": [item(code_of(exc), exc.message)],
                            "warnings": []})
    return bulk_answer(results, failures)


@router.get("/v2/card/statusLog")
async def card_status_log(request: Request, svc: Svc, who: Reader) -> Response:
    number = request.query_params.get("number") or ""
    rows = await svc.cards.status_log(who.org_id, number)
    label_ids = {entry["label"]: entry["id"] for entry in await svc.cards.labels(who.org_id)}
    data = [render.card_status(r, label_ids) for r in rows]
    if data:
        data[-1]["isActive"] = True
    return ok({"data": data, "warnings": [], "errors": []})


@router.get("/v2/card")
async def get_card(request: Request, svc: Svc, who: Reader) -> Response:
    params = request.query_params
    row = await svc.cards.card(who.org_id, params.get("number"), params.get("cardExternalId"))
    return ok({**render.card(row), "warnings": []})


# -- labels ------------------------------------------------------------------------------------

@router.get("/v2/genericStatus/card/labels")
async def card_labels(svc: Svc, who: Reader) -> Response:
    data = [{"createdOn": render.day(entry["created_at"]),
             "description": "default" if entry["built_in"] else "",
             "entityStatusId": entry["id"] if entry["built_in"] else None,
             "id": entry["id"], "isActive": True, "label": entry["label"], "orgId": who.org_id,
             "status": entry["status"], "type": "CARD", "actions": {},
             "default": entry["built_in"]}
            for entry in await svc.cards.labels(who.org_id)]
    return ok({"data": data, "warnings": [], "errors": []})


@router.post("/v2/genericStatus/card/labels")
async def add_card_labels(svc: Svc, who: Writer,
                          body: Annotated[list[LabelBody], Body()]) -> Response:
    await svc.cards.add_labels(who.org_id, [(b.label.strip(), b.status.strip().upper())
                                            for b in body])
    return ok({"warnings": [], "errors": []})


# -- issuing -----------------------------------------------------------------------------------

@router.post("/v2/customers/{customer_id}/changeIdentifier")
async def change_identifier(customer_id: str, request: Request, svc: Svc, who: Writer,
                            body: ChangeIdentifierBody) -> Response:
    """Adds and removes identifiers of one profile. A `cardnumber` added issues the card (it
    may name its series with `seriesId` or `seriesCode`), one removed delinks it."""
    cid = _customer_id(customer_id)
    params = request.query_params
    source = _source(params.get("source") or "INSTORE")
    account_id = params.get("accountId") or ""
    cards_add: list[Identifier] = []
    cards_remove: list[Identifier] = []
    others_add: list[Identifier] = []
    others_remove: list[Identifier] = []
    for change, cards, others in ((body.add, cards_add, others_add),
                                  (body.remove, cards_remove, others_remove)):
        for c in change:
            kind = identifier_type(c.type)
            ident = Identifier(kind, str(c.value).strip(), dict(c.model_extra or {}))
            (cards if kind == "cardnumber" else others).append(ident)
    if cards_add or cards_remove:
        await svc.cards.change_identifiers(who.org_id, cid, source, account_id, cards_add,
                                           [i.value for i in cards_remove], who.till_id)
    if others_add or others_remove:
        await _change_profile_identifiers(svc, who.org_id, cid, source, account_id, others_add,
                                          others_remove, who.till_id)
    if not (cards_add or cards_remove or others_add or others_remove):
        await svc.customers.get(who.org_id, cid)  # nothing to change: the customer must exist
    return ok({"createdId": cid, "warnings": []})


async def _change_profile_identifiers(svc: Any, org_id: int, customer_id: int, source: str,
                                      account_id: str, add: list[Identifier],
                                      remove: list[Identifier], till_id: int | None) -> None:
    """Other identifier types change through the customer update: removed values are those of
    their type the profile keeps without them."""
    record = await svc.customers.get(org_id, customer_id)
    profile = next((p for p in record.profiles
                    if p["source"] == source and p["account_id"] == account_id), None)
    held = [Identifier(i["type"], i["value"]) for i in loads(profile["identifiers"])] \
        if profile else []
    gone = {(i.type, i.value) for i in remove}
    kept = [i for i in held if i.type in {t for t, _ in gone} and (i.type, i.value) not in gone]
    data = CustomerInput(profiles=[ProfileInput(source=source, account_id=account_id,
                                                identifiers=[*add, *kept])])
    await svc.customers.update(org_id, customer_id, data,
                               Provenance(till_id, svc.clock.now_ms()),
                               replace_types={t for t, _ in gone})
