"""The demo organisation: fixed, documented credentials, the seeds' example customers with their
ids and data, and a few thousand generated customers. Everything is written through the domain
services (the same paths the APIs use), so the demo shows what the engine really stores.
"""

from __future__ import annotations

import random
from importlib import resources
from typing import Any

from patron.cards.service import CardChange, Cards, SeriesInput
from patron.clock import FixedClock, parse_iso
from patron.commerce.service import Commerce
from patron.customers.fraud import Fraud
from patron.customers.models import CustomerInput, Identifier, ProfileInput, Provenance
from patron.events.service import Events
from patron.groups.service import GroupInput, Groups
from patron.loyalty.programs import read_program_file
from patron.loyalty.service import Loyalty
from patron.segments.service import Segments
from patron.services import Services

DEMO_ORG_ID = 100737
DEMO_ORG_NAME = "Patron Demo"
DEMO_CREDENTIALS = {
    "till_code": "demo.till",
    "till_password": "demo123",
    "loyalty_key": "demo-key",
    "loyalty_secret": "demo-secret",
    "marketing_client_id": "demo-client",
    "marketing_client_secret": "demo-secret",
    "workspace_key": "lw_test_demo",
    "site_id": "111",
}
# Tills and stores named by the seeds (ids as the seeds show them).
DEMO_TILLS = [
    (75155282, "neeraj.doc", "neeraj.doc", "TILL"),
    (75197941, "george.docdemo", "george.docdemo", "TILL"),
    (75152721, "naman_doc", "naman", "TILL"),
    (75152722, "divya_doc", "divya_doc", "TILL"),
    (75155373, "rutuja_capillary", "rutuja_capillary", "TILL"),
    (75128552, "doc123", "DocStore", "STORE"),
    # Tills seed 000 shows only by id (as the cards' entityId); their codes are the demo's own.
    (75184878, "card.desk", "Card desk", "TILL"),
    (75197372, "card.desk2", "Card desk 2", "TILL"),
]
# Seed 000's card series and the cards of customer 566881933 (ids, numbers and instants as the
# seed shows them): (series id, code, name, max active cards).
DEMO_CARD_SERIES = [(195, "mtest", "card series create new", 5),
                    (214, "CardSeries14", "CardSeries14", 1)]
GENERATED_CUSTOMERS = 2000


def _t(iso: str) -> int:
    return parse_iso(iso)


# The seeds' customers. Seed 000 shows e-mail addresses as "[email protected]" (an e-mail
# obfuscation artefact of the page); the demo gives them real-looking addresses instead.
SEED_CUSTOMERS: list[dict[str, Any]] = [
    {
        "id": 566881933, "first": "Bubalus", "last": "bubalis",
        "identifiers": [("mobile", "1234512345"), ("email", "bubalus.bubalis@example.com"),
                        ("externalId", "12341234")],
        "extended": {"city": "Mumbai", "dob": "1999-08-08T00:00:00Z", "gender": "Male"},
        "associated": "naman_doc",
        "created": ("2025-02-28T06:15:10Z", "neeraj.doc"),
        "loyalty_created": ("2025-09-23T12:31:51Z", "naman_doc"),
        "modified": ("2026-01-08T10:03:21Z", "george.docdemo"),
        "purchases": [("DEMO-566881933-1", 221_350_000, "2025-10-02T10:00:00Z")],
        # (card id, series id, number, external id, created, created by, issued, extended
        # fields, custom fields, mapped till)
        "cards": [
            (914258, 195, "mtest00000000067003", None, "2025-09-05T12:25:27Z", "naman_doc",
             "2025-09-18T12:47:07Z", {"custom_card_name": "TOM", "vehicle_number": "KA01B2020"},
             {"vehicle_type": "Bike"}, "rutuja_capillary"),
            (916170, 195, "mtest00000000107003", None, "2025-09-23T12:09:51Z", "card.desk",
             "2025-09-23T12:10:53Z", {}, {}, None),
            (916172, 195, "mtest00000000087003", None, "2025-09-23T12:09:51Z", "card.desk",
             "2025-09-23T12:10:42Z", {}, {}, None),
            (916173, 195, "mtest00000000077003", None, "2025-09-23T12:09:51Z", "card.desk",
             "2025-09-23T12:10:29Z", {}, {}, None),
            (921845, 214, "DS034812BA", "CardExternal2", "2025-11-20T09:50:02Z", "card.desk2",
             "2025-11-20T10:07:35Z", {}, {}, None),
        ],
    },
    {
        "id": 565261498, "first": "Tom", "last": "Sawyer",
        "identifiers": [("mobile", "19986542387")],
        "extended": {},
        "associated": "neeraj.doc",
        "created": ("2024-08-27T00:00:00Z", "neeraj.doc"),
        "loyalty_created": ("2024-08-27T00:00:00Z", "neeraj.doc"),
        "modified": ("2026-01-14T10:25:02Z", "divya_doc"),
        "purchases": [("DEMO-565261498-1", 10_200_000, "2025-03-26T08:26:55Z")],
        # Seed 000's slab history and criteria, as the engine derives them: the bill's 1,020
        # points reach Coral; a manual upgrade to Garnet; 1,019 points redeemed, leaving the
        # 5,999 still needed for Diamond (tierUpgradeCriteria.purchaseValue).
        "store": "doc123",
        "tier_adjustment": ("2026-01-13T14:41:26Z", "Garnet",
                            "Upgraded for achieving 1000 loyalty points"),
        "redemption": ("2026-01-13T15:02:00Z", 1_019_000),
    },
    {
        "id": 565118794, "first": "Gautam", "last": "Rao",
        "identifiers": [("mobile", "919353491050"), ("email", "gcr9986@gmail.com")],
        "extended": {},
        "associated": "neeraj.doc",
        "created": ("2024-11-04T09:30:00Z", "neeraj.doc"),
        "loyalty_created": ("2024-11-04T09:30:00Z", "neeraj.doc"),
        "modified": None,
        "purchases": [],
    },
    {
        "id": 565496268, "first": "Group", "last": "User",
        "identifiers": [("mobile", "919800000268")],
        "extended": {},
        "associated": "rutuja_capillary",
        "created": ("2024-08-20T07:00:00Z", "rutuja_capillary"),
        "loyalty_created": ("2024-08-20T07:00:00Z", "rutuja_capillary"),
        "modified": None,
        "purchases": [],
    },
]

# User groups of the seed customers. Seed 004's event names group 3854766 (`groupId`): here it is
# the Sawyer family, whose primary member is seed 000's 565261498. (id, external id, name, maximum
# size, extended fields, created at, by till; members: customer, primary, joined at, permissions.)
DEMO_GROUPS: list[dict[str, Any]] = [
    {"id": 3854766, "externalId": "sawyer-family", "name": "Sawyer family", "maxSize": 6,
     "extended": {"ug_status": "Active"}, "created": ("2026-01-15T09:00:00Z", "neeraj.doc"),
     "members": [(565261498, True, "2026-01-15T09:05:00Z",
                  ["allow_points_redemption", "allow_points_transfer"]),
                 (565496268, False, "2026-01-16T10:00:00Z", ["allow_points_redemption"])]},
    {"id": 3854767, "externalId": "riverside-club", "name": "Riverside club", "maxSize": 50,
     "extended": {}, "created": ("2026-02-01T08:00:00Z", "naman_doc"),
     "members": [(566881933, True, "2026-02-01T08:00:00Z", []),
                 (565261498, False, "2026-02-03T12:00:00Z", [])]},
]

FIRST_NAMES = ["Aarav", "Maya", "Liam", "Sofia", "Noah", "Aisha", "Lucas", "Mei", "Omar", "Zara",
               "Ethan", "Priya", "Mateo", "Hana", "Arjun", "Chloe", "Kenji", "Lena", "Ravi", "Ines"]
LAST_NAMES = ["Sharma", "Nguyen", "Smith", "Garcia", "Khan", "Tanaka", "Silva", "Müller",
              "Okafor", "Rossi", "Patel", "Kim", "Dubois", "Haddad", "Larsen", "Chen"]
CITIES = ["Mumbai", "Bangalore", "Singapore", "Jakarta", "Dubai", "London", "Manila", "Pune"]


async def load_demo(svc: Services, generated: int = GENERATED_CUSTOMERS) -> bool:
    """Creates the demo organisation if it is absent; returns False when it was there already."""
    if await svc.tenancy.org_by_name(DEMO_ORG_NAME) is not None:
        return False
    await svc.tenancy.create_org(DEMO_ORG_NAME, org_id=DEMO_ORG_ID, time_zone="UTC",
                                 fixed=DEMO_CREDENTIALS)
    tills = {}
    for till_id, code, name, till_type in DEMO_TILLS:
        tills[code] = await svc.tenancy.add_till(DEMO_ORG_ID, code, name, till_type,
                                                 till_id=till_id)
    programs = (resources.files("patron.loyalty") / "demo-programs.yaml").read_text("utf-8")
    await svc.loyalty.apply_programs(DEMO_ORG_ID, read_program_file(programs))
    for series_id, code, name, max_active in DEMO_CARD_SERIES:
        await svc.cards.add_series(DEMO_ORG_ID, SeriesInput(
            code=code, type="DIGITAL", name=name, expiry_days=1000,
            max_active_cards=max_active), tills["naman_doc"], series_id=series_id)
    for seed in SEED_CUSTOMERS:
        await _seed_customer(svc, seed, tills)
    await _groups(svc, tills)
    contacts = await _generated_customers(svc, generated, list(tills.values()))
    await _events(svc, list(contacts))
    await _communications(svc, contacts)
    await _segments_and_fraud(svc, contacts, tills)
    return True


def _flag(value: str) -> dict[str, str]:
    return {"valueType": "Boolean", "value": value}


# Seed 004's event definition, and two kinds of clickstream event for generated customers.
EVENT_DEFINITIONS = [
    {"eventName": "Group_User_Event", "actions": ["EMFConsumer"], "description": "group member",
     "fields": [
         {"name": "customer", "type": "customer",
          "attributes": {"addCustomerIfNotExists": _flag("true"),
                         "identifierType": {"valueType": "String", "value": "mobile"}}},
         {"name": "String", "type": "tillCode", "attributes": {"isRequired": _flag("false")}},
         {"name": "groupId", "type": "string", "attributes": {}}]},
    {"eventName": "page_view", "actions": ["EIConsumer"], "description": "a page was viewed",
     "fields": [
         {"name": "customer", "type": "customer",
          "attributes": {"identifierType": {"valueType": "String", "value": "userId"}}},
         {"name": "page", "type": "string", "attributes": {"isRequired": _flag("true")}},
         {"name": "productSku", "type": "productSku", "attributes": {}}]},
    {"eventName": "store_visit", "actions": ["EMFConsumer"], "description": "walked in",
     "fields": [
         {"name": "customer", "type": "customer",
          "attributes": {"identifierType": {"valueType": "String", "value": "userId"}}},
         {"name": "visit_ref", "type": "string", "attributes": {"isUniqueKeyField": _flag("true")}},
         {"name": "minutes", "type": "double", "attributes": {}}]},
]
SEED_004_EVENT: dict[str, Any] = {
    "request_id": "b26d5065-2177-4a18-a5ae-332682072073",
    "received_at": 1769157601101,
    "lineage_start": 1769157599735,
    "body": {"eventName": "Group_User_Event", "customer": "919800000268", "String": "75155373",
             "groupId": "3854766", "eventDateTime": "2024-08-24T15:30:00+07:00"},
}
PAGES = ["/", "/offers", "/stores", "/product/shoe-1", "/product/bag-7", "/cart", "/checkout"]


async def _events(svc: Services, customer_ids: list[int]) -> None:
    for definition in EVENT_DEFINITIONS:
        await svc.events.define(DEMO_ORG_ID, definition)
    token, _ = await svc.events.add_webhook(
        DEMO_ORG_ID, transformer="WebEngageTransformer", till_code="rutuja_capillary",
        default_till_id=None, auth_enabled=False, auth_mechanism=None, uniqueness_check=False)
    hook = await svc.events.webhook(token)
    # Seed 004's event arrived at a known instant: ingest it on a clock stopped there.
    seeded = Events(svc.db, FixedClock(SEED_004_EVENT["received_at"]), svc.customers)
    await seeded.ingest(hook, [SEED_004_EVENT["body"]], lineage_id=SEED_004_EVENT["request_id"],
                        lineage_start=SEED_004_EVENT["lineage_start"])
    rng = random.Random(4)
    start = _t("2025-06-01T00:00:00Z")
    batch: list[dict] = []
    for customer_id in customer_ids:
        for n in range(rng.randrange(0, 6)):
            at = start + rng.randrange(500 * 86_400_000)
            if rng.random() < 0.75:
                page = rng.choice(PAGES)
                event = {"eventName": "page_view", "customer": customer_id, "page": page,
                         "eventDateTime": at}
                if page.startswith("/product/"):
                    event["productSku"] = page.rsplit("/", 1)[1].upper()
            else:
                event = {"eventName": "store_visit", "customer": customer_id,
                         "visit_ref": f"V{customer_id}-{n}", "minutes": rng.randrange(3, 90),
                         "eventDateTime": at}
            batch.append(event)
            if len(batch) == 500:
                await svc.events.ingest(hook, batch)
                batch = []
    if batch:
        await svc.events.ingest(hook, batch)


async def _seed_customer(svc: Services, seed: dict[str, Any], tills: dict[str, int]) -> None:
    created_at, created_by = seed["created"]
    loyalty_at, loyalty_by = seed["loyalty_created"]
    data = CustomerInput(
        profiles=[ProfileInput(first_name=seed["first"], last_name=seed["last"],
                               identifiers=[Identifier(t, v) for t, v in seed["identifiers"]])],
        extended_fields=seed["extended"], associated_with=seed["associated"],
        loyalty_type="loyalty")
    await svc.customers.register(
        DEMO_ORG_ID, data,
        Provenance(tills[created_by], _t(created_at), loyalty_till_id=tills[loyalty_by],
                   loyalty_at_ms=_t(loyalty_at), source_name="instore"),
        customer_id=seed["id"])
    # The engine stamps what it does with its clock: run it at the seed's own instants.
    clock = FixedClock(_t(loyalty_at))
    loyalty = Loyalty(svc.db, clock)
    commerce = Commerce(svc.db, clock, loyalty, svc.customers.tills)
    till = tills[seed.get("store", loyalty_by)]
    for bill, amount, billed_at in seed["purchases"]:
        clock.value = _t(billed_at)
        await commerce.record_purchase(DEMO_ORG_ID, seed["id"], bill, amount, _t(billed_at),
                                       till)
    if "tier_adjustment" in seed:
        at, tier, reason = seed["tier_adjustment"]
        clock.value = _t(at)
        await loyalty.adjust_tier(DEMO_ORG_ID, seed["id"], None, tier, reason, till)
    if "redemption" in seed:
        at, points = seed["redemption"]
        clock.value = _t(at)
        await loyalty.redeem(DEMO_ORG_ID, seed["id"], None, points, f"DEMO-R-{seed['id']}",
                             "demo redemption", till)
    cards = Cards(svc.db, clock)
    for (card_id, series_id, number, external_id, created, by, issued, extended, custom,
         mapped) in seed.get("cards", ()):
        clock.value = _t(created)
        await cards.add(DEMO_ORG_ID, series_id, number, external_id, "NOT_ISSUED", "", custom,
                        extended, tills[by], card_id=card_id)
        clock.value = _t(issued)
        await cards.change_identifiers(DEMO_ORG_ID, seed["id"], "INSTORE", "",
                                       [Identifier("cardnumber", number)], [], tills[by])
        if mapped:
            await cards.change(DEMO_ORG_ID, CardChange(series_id, "ACTIVE", number,
                                                       mapped_till_code=mapped), tills[by])
    if seed["modified"]:
        modified_at, modified_by = seed["modified"]
        await svc.customers.update(DEMO_ORG_ID, seed["id"], CustomerInput(profiles=[
            ProfileInput(first_name=seed["first"], last_name=seed["last"])]),
            Provenance(tills[modified_by], _t(modified_at)))


async def _groups(svc: Services, tills: dict[str, int]) -> None:
    """The demo's user groups, created and joined at their own instants."""
    clock = FixedClock(0)
    groups = Groups(svc.db, clock, svc.customers, svc.loyalty)
    for g in DEMO_GROUPS:
        at, till = g["created"]
        clock.value = _t(at)
        await groups.create(DEMO_ORG_ID, GroupInput(g["externalId"], g["name"], g["maxSize"],
                                                    g["extended"]), tills[till],
                            group_id=g["id"])
        for customer_id, primary, joined_at, permissions in g["members"]:
            clock.value = _t(joined_at)
            await groups.join(DEMO_ORG_ID, g["id"], customer_id, primary=primary,
                              default_group=False, permissions=permissions,
                              till_id=tills[till])


async def _generated_customers(svc: Services, count: int,
                               till_ids: list[int]) -> dict[int, tuple[str, str]]:
    """The generated customers, with the mobile number and e-mail address of each."""
    rng = random.Random(100737)  # the same demo on every machine
    start = _t("2024-01-01T00:00:00Z")
    span = _t("2026-10-31T00:00:00Z") - start
    contacts: dict[int, tuple[str, str]] = {}
    for n in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        mobile = f"91{rng.randrange(7_000_000_000, 9_999_999_999)}"
        idents = [Identifier("mobile", mobile),
                  Identifier("email", f"{first}.{last}.{n}@example.com".lower()),
                  Identifier("externalId", f"CRM-{100000 + n}")]
        profiles = [ProfileInput(first_name=first, last_name=last, identifiers=idents)]
        if n % 5 == 0:
            profiles.append(ProfileInput(source="WECHAT", account_id="wx-demo",
                                         first_name=first, last_name=last,
                                         identifiers=[Identifier("wechat", f"wx{n:06d}")]))
        at = start + rng.randrange(span)
        till = rng.choice(till_ids)
        written = await svc.customers.register(
            DEMO_ORG_ID, CustomerInput(profiles=profiles,
                                       extended_fields={"city": rng.choice(CITIES)},
                                       loyalty_type="loyalty" if n % 4 else "non_loyalty"),
            Provenance(till, at))
        contacts[written.customer_id] = (mobile, idents[1].value)
        for p in range(rng.randrange(0, 4)):
            await svc.commerce.record_purchase(
                DEMO_ORG_ID, written.customer_id, f"B{n:05d}-{p}",
                rng.randrange(5_000, 900_000) * 10, at + p * 86_400_000 * 7, till)
    return contacts


SUBJECTS = ["Your points statement", "Weekend sale: 30% off", "New arrivals", "We miss you",
            "Your receipt", "Happy birthday!"]
SMS_BODIES = ["Thanks for shopping with us. You earned points today.",
              "Flash sale today only at your nearest store.",
              "Your OTP is {otp}. It expires in 10 minutes."]


async def _communications(svc: Services, contacts: dict[int, tuple[str, str]]) -> None:
    """A realistic history for each generated customer: e-mail campaigns and transactional
    messages with their delivery events, SMS (some of them OTPs), WhatsApp, missed calls and
    surveys, subscription changes, tags and sign-ins; written through the engagement records
    that the native API and `patron import` take. Seed 001's customer keeps an empty history,
    as the seed shows."""
    rng = random.Random(1001)
    start = _t("2025-06-01T00:00:00Z")
    records: list[dict[str, Any]] = []
    prov = Provenance(None, _t("2026-11-01T00:00:00Z"))

    async def flush(force: bool = False) -> None:
        if records and (force or len(records) >= 900):
            await svc.engagement.ingest(DEMO_ORG_ID, records, prov)
            records.clear()

    for customer_id, (mobile, email) in contacts.items():
        who = {"id": customer_id}
        for n in range(rng.randrange(0, 12)):
            sent = start + rng.randrange(500 * 86_400_000)
            rid = f"demo-{customer_id}-{n}"
            channel = rng.choices(["email", "sms", "whatsapp", "missed_call", "survey"],
                                  [50, 30, 10, 5, 5])[0]
            message: dict[str, Any] = {"kind": "message", "id": rid, "customer": who,
                                       "channel": channel, "sentAt": sent}
            if channel == "email":
                bulk = rng.random() < 0.7
                message.update(sender="news@demo.patron", receiver=email,
                               subject=rng.choice(SUBJECTS))
                if bulk:
                    message["campaignId"] = str(260000 + rng.randrange(40))
            elif channel in ("sms", "whatsapp"):
                body = rng.choice(SMS_BODIES)
                message.update(sender="DEMO", receiver=mobile,
                               body=body.format(otp=rng.randrange(100000, 999999)),
                               otp="OTP" in body)
            else:
                message.update(sender=mobile)
            records.append(message)
            if channel in ("email", "sms", "whatsapp"):
                fate = rng.random()
                if fate < 0.04:
                    records.append({"kind": "delivery", "message": rid, "event": "bounced",
                                    "bounceType": "hard" if fate < 0.01 else "soft",
                                    "at": sent + 2_000})
                else:
                    records.append({"kind": "delivery", "message": rid, "event": "delivered",
                                    "at": sent + 3_000})
                    if channel == "email" and rng.random() < 0.45:
                        opened = sent + rng.randrange(60_000, 3 * 86_400_000)
                        records.append({"kind": "delivery", "message": rid, "event": "opened",
                                        "at": opened})
                        if rng.random() < 0.3:
                            records.append({"kind": "delivery", "message": rid,
                                            "event": "clicked", "at": opened + 20_000})
        joined = start - rng.randrange(200 * 86_400_000)
        records.append({"kind": "email_subscription", "customer": who, "action": "subscribed",
                        "at": joined})
        if rng.random() < 0.08:
            records.append({"kind": "email_subscription", "customer": who,
                            "action": "unsubscribed", "at": joined + 150 * 86_400_000})
            records.append({"kind": "subscription", "customer": who, "channel": "EMAIL",
                            "priority": "BULK", "type": "OPTOUT",
                            "at": joined + 150 * 86_400_000})
        if rng.random() < 0.3:
            records.append({"kind": "tag", "customer": who, "ref": rng.choice(
                ["vip", "newsletter", "app-user", "lapsed"]), "at": joined})
        for s in range(rng.randrange(0, 4)):
            records.append({"kind": "sign_in", "customer": who,
                            "at": start + rng.randrange(500 * 86_400_000) + s})
        await flush()
    await flush(force=True)


# The docs' example segment ("Activity segment": "Lapsed"), filled as a segment upload would.
ACTIVITY_SEGMENT = ("Activity segment", "How recently the customer bought or visited",
                    ["Active", "At risk", "Lapsed"])
SEED_SEGMENT_ROWS = [{"user_id": "566881933", "value": "Lapsed"},
                     {"user_id": "565261498", "value": "Active"},
                     {"mobile": "919353491050", "value": "At risk"}]
# (customer, status, marking till or None, when). 566881933 shows the docs' example
# (`NOT_FRAUD`, `markedBy: {}`); 565118794's CONFIRMED status makes its redemptions answer 618.
SEED_FRAUD = [(566881933, "NOT_FRAUD", None, "2025-11-02T09:45:00Z"),
              (565118794, "CONFIRMED", "neeraj.doc", "2026-02-03T11:20:00Z")]


async def _segments_and_fraud(svc: Services, contacts: dict[int, tuple[str, str]],
                              tills: dict[str, int]) -> None:
    clock = FixedClock(_t("2026-11-01T00:00:00Z"))
    segments = Segments(svc.db, clock, svc.customers)
    name, description, partitions = ACTIVITY_SEGMENT
    segment = await segments.create(DEMO_ORG_ID, name, description, partitions)
    rng = random.Random(5)
    rows: list[dict[str, str]] = list(SEED_SEGMENT_ROWS)
    for mobile, _ in contacts.values():
        if rng.random() < 0.8:  # some generated customers are in no partition
            rows.append({"mobile": mobile,
                         "value": rng.choices(partitions, [55, 20, 25])[0]})
    for start in range(0, len(rows), 1000):
        await segments.assign(DEMO_ORG_ID, segment.id, rows[start:start + 1000])
    fraud = Fraud(svc.db, clock, svc.customers.tills)
    for customer_id, status, till, at in SEED_FRAUD:
        clock.value = _t(at)
        await fraud.set_status(DEMO_ORG_ID, customer_id, status,
                               tills[till] if till else None)
    first_generated = next(iter(contacts), None)
    if first_generated is not None:
        clock.value = _t("2026-10-20T16:05:00Z")
        await fraud.set_status(DEMO_ORG_ID, first_generated, "MARKED", tills["george.docdemo"])
