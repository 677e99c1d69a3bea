"""Customer rules: registration and joining across sources, updates, look-ups, listing, PII scrub.

Every face reaches customers through this module, so an identifier is unique, a mobile number is
normalised and a PII scrub removes the same things whichever API asked.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from patron.clock import Clock
from patron.customers import normalize
from patron.customers import repository as repo
from patron.customers.models import (
    CHANNEL_TYPES,
    LOYALTY_TYPES,
    SOURCES,
    STATUS_ACTIVE,
    STATUS_DELETED,
    Channel,
    CustomerInput,
    Identifier,
    ProfileInput,
    Provenance,
    Written,
)
from patron.db.database import Database, Queryable, Row, is_unique_violation
from patron.db.ids import next_id
from patron.errors import Conflict, NotFound, PatronError, ValidationFailed
from patron.jsonio import dumps_text, loads
from patron.tenancy import repository as tenancy_repo
from patron.tenancy.tills import Tills

MAX_PROFILES = 10
MAX_IDENTIFIERS = 20


class CustomerDeleted(NotFound):
    reason = "customer_pii_deleted"


async def active_state(tx: Queryable, org_id: int, customer_id: int) -> Row:
    """The state row of an active customer: a missing (or merged) one is NotFound, a PII-deleted
    one CustomerDeleted. Call first inside every write's transaction that stores something about
    the customer: it locks the customer's row (repo.LOCK_CUSTOMER_STATE), so that nothing is
    written about a customer after their erasure."""
    return _active(await tx.fetchrow(repo.LOCK_CUSTOMER_STATE, org_id, customer_id))


def _named_id(value: str) -> int:
    """The customer id an `id` identifier gives, or NotFound."""
    customer_id = normalize.customer_id(value)
    if customer_id is None:
        raise NotFound("Customer not found for the given identifiers",
                       reason="customer_not_found")
    return customer_id


def _active(state: Row | None) -> Row:
    if state is not None and state["status"] == STATUS_DELETED:
        raise CustomerDeleted("Customer is deleted after PII delete request")
    if state is None or state["status"] != STATUS_ACTIVE:
        raise NotFound("Customer not found for the given identifiers",
                       reason="customer_not_found")
    return state


@dataclass
class CustomerRecord:
    """A customer as the faces read it: the customer row, its profiles, and the tills they
    name (`associated_till_id`, `loyalty_created_by`, `loyalty_modified_by`, and each profile's
    `created_by` and `modified_by`), by id."""

    row: Row
    profiles: list[Row]
    tills: dict[int, Row]

    @property
    def id(self) -> int:
        return int(self.row["id"])


@dataclass
class _Resolved:
    profile: ProfileInput
    identifiers: list[Identifier]
    channels: list[Channel]


class CardIssuer(Protocol):
    async def issue(self, tx: Queryable, org_id: int, customer_id: int, ident: Identifier,
                    source: str, account_id: str, till_id: int | None) -> int: ...


class Customers:
    def __init__(self, db: Database, clock: Clock, tills: Tills) -> None:
        self.db = db
        self.clock = clock
        self.tills = tills
        # Issues the card a new `cardnumber` identifier names (patron.cards), in the same
        # transaction as the profile that carries it.
        self.cards: CardIssuer | None = None

    # -- reads ---------------------------------------------------------------------------

    async def get(self, org_id: int, customer_id: int) -> CustomerRecord:
        row, profiles = await repo.customer_with_profiles(self.db, org_id, customer_id)
        if row is None:
            raise NotFound("Customer not found for the given identifiers",
                           reason="customer_not_found")
        if row["status"] == STATUS_DELETED:
            raise CustomerDeleted("Customer is deleted after PII delete request")
        return CustomerRecord(row, profiles, await self.tills.named(
            self.db, org_id, (row["associated_till_id"], row["loyalty_created_by"],
                              row["loyalty_modified_by"],
                              *(p[k] for p in profiles for k in ("created_by", "modified_by")))))

    async def resolve(self, org_id: int, identifier_name: str, identifier_value: str) -> int:
        """The customer an identifier (or `id`) names, or NotFound."""
        name = identifier_name.strip()
        if normalize.names_id(name):
            customer_id = _named_id(identifier_value)
            _active(await self.db.fetchrow(repo.GET_CUSTOMER_STATE, org_id, customer_id))
            return customer_id
        kind = normalize.identifier_type(name)
        try:
            value = normalize.identifier_value(kind, identifier_value)
        except ValidationFailed:
            raise NotFound("Customer not found for the given identifiers",
                           reason="customer_not_found") from None
        hit = await repo.find_identifier(self.db, org_id, kind, value)
        if hit is None:
            raise NotFound("Customer not found for the given identifiers",
                           reason="customer_not_found")
        return int(hit["customer_id"])

    async def resolve_listed(self, org_id: int, identifier_name: str,
                             identifier_value: str) -> Row:
        """`resolve`, answering the customer's `get_listed` row: one statement for an id."""
        customer_id = self.named_id(identifier_name, identifier_value)
        if customer_id is not None:
            return self.active_row(
                await self.db.fetchrow(repo.GET_LISTED_ANY, org_id, customer_id))
        return await self.get_listed(
            org_id, await self.resolve(org_id, identifier_name, identifier_value))

    @staticmethod
    def named_id(identifier_name: str, identifier_value: str) -> int | None:
        """The customer id an `id` identifier names (NotFound if it cannot name one); None for
        any other identifier, which only the store can resolve."""
        return _named_id(identifier_value) if normalize.names_id(identifier_name) else None

    @staticmethod
    def active_row(row: Row | None) -> Row:
        """A customer's row (with at least repository.ADDRESSES_OF_C's columns, perhaps read
        beside other rows: None or a NULL id if there is no such customer), if the customer is
        active; else NotFound, or CustomerDeleted after a PII delete."""
        return _active(row if row is None or row["id"] is not None else None)

    async def resolve_many(self, org_id: int,
                           refs: Sequence[tuple[str, str]]) -> list[int | None]:
        """The batch form of `resolve`: the customer each (identifier name, value) pair names,
        in order, or None where `resolve` would answer NotFound (a PII-deleted customer is
        simply not found). One query per identifier type, whatever the batch size."""
        found: list[int | None] = [None] * len(refs)
        by_id: list[tuple[int, int]] = []
        by_kind: dict[str, list[tuple[int, str]]] = {}
        for index, (name, value) in enumerate(refs):
            if normalize.names_id(name):
                customer_id = normalize.customer_id(value)
                if customer_id is not None:
                    by_id.append((index, customer_id))
                continue
            kind = normalize.identifier_type(name)
            try:
                by_kind.setdefault(kind, []).append(
                    (index, normalize.identifier_value(kind, value)))
            except ValidationFailed:
                continue  # an invalid mobile or email names nobody
        if by_id:
            active = await repo.active_customers(self.db, org_id,
                                                 sorted({c for _, c in by_id}))
            for index, customer_id in by_id:
                found[index] = customer_id if customer_id in active else None
        for kind, pairs in by_kind.items():
            owners = await repo.customers_by_identifier(self.db, org_id, kind,
                                                        sorted({v for _, v in pairs}))
            for index, value in pairs:
                found[index] = owners.get(value)
        return found

    async def by_external_id(self, org_id: int, external_id: str) -> int:
        found = await self.db.fetchval(repo.FIND_BY_EXTERNAL_ID, org_id, external_id)
        if found is None:
            raise NotFound("Customer not found", reason="customer_not_found")
        return int(found)

    async def listed(self, org_id: int, *, site_id: int | None = None, search: str | None = None,
                     sort: str = "created_at", descending: bool = True, limit: int = 20,
                     offset: int = 0, with_profile: bool = False) -> tuple[list[Row], int]:
        """Active customers, a page of them and how many match. `with_profile` adds the names and
        identifiers of the profile a single-profile API shows (`profile_first_name`,
        `profile_last_name`, `profile_identifiers`): INSTORE without an account, else the oldest."""
        if sort not in repo.SORT_COLUMNS:
            raise ValidationFailed(f"cannot sort by {sort!r}", reason="invalid_sort", field="sort")
        search = normalize.search_term(search) or None if search is not None else None
        rows = await repo.listed(self.db, org_id, site_id=site_id, search=search, sort=sort,
                                 descending=descending, limit=limit, offset=offset,
                                 with_profile=with_profile)
        total = await repo.count_listed(self.db, org_id, site_id=site_id, search=search)
        return rows, total

    async def get_listed(self, org_id: int, customer_id: int, *,
                         with_profile: bool = False) -> Row:
        row = await self.db.fetchrow(repo.GET_SHOWN if with_profile else repo.GET_LISTED,
                                     org_id, customer_id)
        if row is None:
            raise NotFound("Customer not found", reason="customer_not_found")
        return row

    @staticmethod
    async def is_active(tx: Queryable, org_id: int, customer_id: int) -> bool:
        """Whether the customer is active, locking their row as `active_state` does."""
        state = await tx.fetchrow(repo.LOCK_CUSTOMER_STATE, org_id, customer_id)
        return state is not None and state["status"] == STATUS_ACTIVE

    async def count(self, org_id: int) -> int:
        return int(await self.db.fetchval(repo.COUNT_ACTIVE, org_id))

    # -- writes --------------------------------------------------------------------------

    async def register(self, org_id: int, data: CustomerInput, prov: Provenance, *,
                       customer_id: int | None = None) -> Written:
        """Register a customer, or join an existing one that holds an identifier in another
        source (Capillary's merge warning). The same source again is a conflict."""
        warnings: list[str] = []
        resolved = self._resolve_input(data, warnings, require_identifiers=True)
        for attempt in range(2):
            try:
                async with self.db.transaction() as tx:
                    return await self._register(tx, org_id, data, resolved, prov, warnings,
                                                customer_id)
            except Exception as exc:
                # Another request registered one of the identifiers (or the external id, which
                # the customer row holds too) first: the second attempt joins or refuses it.
                if not isinstance(exc, _IdentifierRace) and not is_unique_violation(exc):
                    raise
                if attempt:
                    raise Conflict("identifier registered concurrently",
                                   reason="identifier_conflict",
                                   field=getattr(exc, "field", None)) from None
        raise AssertionError("unreachable")

    async def _register(self, tx: Queryable, org_id: int, data: CustomerInput,
                        resolved: list[_Resolved], prov: Provenance, warnings: list[str],
                        customer_id: int | None) -> Written:
        owners = await self._owners(tx, org_id, resolved)
        if len(owners) > 1:
            raise Conflict("identifiers belong to different customers",
                           reason="conflicting_customers")
        if owners:
            existing = next(iter(owners))
            current = {(p["source"], p["account_id"])
                       for p in await tx.fetch(repo.GET_PROFILE_ROWS, org_id, existing)}
            for r in resolved:
                if (r.profile.source, r.profile.account_id) in current:
                    raise Conflict(
                        f"Customer already exists with id {existing} for same source",
                        reason="customer_exists_same_source")
            warnings.append("joined_other_source")
            await self._write_profiles(tx, org_id, existing, resolved, prov)
            await self._refresh_derived(tx, org_id, existing, data, prov)
            return Written(existing, created=False, warnings=warnings)

        new_id = customer_id if customer_id is not None else await next_id(tx)
        assoc = await self._associated_till(tx, org_id, data.associated_with, prov.till_id)
        site_id = data.site_id
        if site_id is None:
            site_id = await tx.fetchval(tenancy_repo.FIRST_SITE, org_id)
        loyalty_type = data.loyalty_type or "loyalty"
        if loyalty_type not in LOYALTY_TYPES:
            raise ValidationFailed("loyaltyType must be loyalty or non_loyalty",
                                   reason="invalid_loyalty_type", field="loyaltyType")
        summary = _summary(resolved, data.click_id)
        await tx.execute(
            repo.INSERT_CUSTOMER, org_id, new_id, site_id, summary["external_id"], loyalty_type,
            assoc, dumps_text(scalar_fields(data.extended_fields or {}, "extendedFields")),
            summary["name"], summary["email"], summary["mobile"], summary["search_text"],
            data.click_id, dumps_text(data.metadata or {}), data.avatar,
            prov.at_ms if prov.loyalty_at_ms is None else prov.loyalty_at_ms,
            prov.loyalty_till_id or prov.till_id,
            (prov.source_name or resolved[0].profile.source).lower(), prov.at_ms)
        await self._write_profiles(tx, org_id, new_id, resolved, prov)
        return Written(new_id, created=True, warnings=warnings)

    async def update(self, org_id: int, customer_id: int, data: CustomerInput,
                     prov: Provenance, *, replace_types: Collection[str] = ()) -> Written:
        """Change names, fields, channels and attributes; add identifiers not held elsewhere.
        Profiles not named in `data` are left as they are.

        Identifier types named in `replace_types` (canonical spelling, e.g. `externalId`) are
        replaced in the profiles written instead of added to: their old values leave the profile
        (and its derived channels), and leave the identifier registry unless another profile of
        the customer still holds them. A replaced type given no value is removed."""
        warnings: list[str] = []
        resolved = self._resolve_input(data, warnings, require_identifiers=False)
        replace = frozenset(replace_types)
        try:
            async with self.db.transaction() as tx:
                state = await active_state(tx, org_id, customer_id)
                await self._held_elsewhere(tx, org_id, customer_id, resolved)
                if data.loyalty_type == "non_loyalty" and state["loyalty_type"] == "loyalty":
                    raise ValidationFailed("Conversion from loyalty to non-loyalty not allowed",
                                           reason="loyalty_downgrade_not_allowed")
                existing = {(p["source"], p["account_id"]): p
                            for p in await tx.fetch(repo.GET_PROFILE_ROWS, org_id, customer_id)}
                merged = [self._merge_profile(
                    existing.get((r.profile.source, r.profile.account_id)), r, replace)
                    for r in resolved]
                await self._write_profiles(tx, org_id, customer_id, merged, prov)
                if replace:
                    await self._release_replaced(tx, org_id, customer_id, existing, merged,
                                                 replace)
                await self._refresh_derived(tx, org_id, customer_id, data, prov)
        except _IdentifierRace as exc:
            raise Conflict("an identifier belongs to another customer",
                           reason="identifier_conflict", field=exc.field) from None
        return Written(customer_id, created=False, warnings=warnings)

    async def upsert_external(self, org_id: int, external_id: str, data: CustomerInput,
                              prov: Provenance, *, replace_types: Collection[str] = ()) -> Written:
        """Create, or update the customer whose identifiers hold this external id (the workspace
        face); an update replaces `replace_types` as `update` does. `data` carries the external
        id among its identifiers. Another identifier (email, mobile) held by a customer that has
        a profile in the same source is a conflict."""
        existing = await self._external_owner(org_id, external_id)
        if existing is None:
            try:
                return await self.register(org_id, data, prov)
            except Conflict as exc:
                if exc.reason != "customer_exists_same_source":
                    raise
                existing = await self._external_owner(org_id, external_id)
                if existing is None:  # an email or mobile names a customer without this id
                    raise Conflict("an identifier belongs to another customer",
                                   reason="identifier_conflict") from None
        return await self.update(org_id, existing, data, prov, replace_types=replace_types)

    async def _external_owner(self, org_id: int, external_id: str) -> int | None:
        hit = await repo.find_identifier(self.db, org_id, "externalId", external_id)
        return None if hit is None else int(hit["customer_id"])

    async def scrub_pii(self, tx: Queryable, org_id: int, customer_id: int) -> None:
        """Remove every piece of personal data the store holds for the customer. Ids,
        transactions and points stay, as Capillary keeps them."""
        now = self.clock.now_ms()
        await tx.execute(repo.SCRUB_PROFILES, org_id, customer_id, now)
        await tx.execute(repo.DELETE_CUSTOMER_IDENTIFIERS, org_id, customer_id)
        await tx.execute(repo.DELETE_ALL_IMAGES, org_id, customer_id)
        await tx.execute(repo.SCRUB_CUSTOMER, org_id, customer_id, now)

    # -- internals -----------------------------------------------------------------------

    def _resolve_input(self, data: CustomerInput, warnings: list[str],
                       require_identifiers: bool) -> list[_Resolved]:
        if require_identifiers and not data.profiles:
            raise ValidationFailed("profiles are required", reason="no_identifiers",
                                   field="profiles")
        if len(data.profiles) > MAX_PROFILES:
            raise ValidationFailed(f"at most {MAX_PROFILES} profiles", field="profiles")
        seen_profiles: set[tuple[str, str]] = set()
        resolved = []
        for p in data.profiles:
            if p.source not in SOURCES:
                raise ValidationFailed("Invalid source passed", reason="invalid_source",
                                       field="source")
            key = (p.source, p.account_id)
            if key in seen_profiles:
                raise ValidationFailed("two profiles for one source and account",
                                       field="profiles")
            seen_profiles.add(key)
            if len(p.identifiers) > MAX_IDENTIFIERS:
                raise ValidationFailed(f"at most {MAX_IDENTIFIERS} identifiers",
                                       field="identifiers")
            idents: list[Identifier] = []
            for ident in p.identifiers:
                kind = normalize.identifier_type(ident.type)
                try:
                    value = normalize.identifier_value(kind, ident.value)
                except ValidationFailed as exc:
                    warnings.append(exc.reason)  # invalid_email / invalid_mobile: dropped
                    continue
                if any(i.type == kind and i.value == value for i in idents):
                    continue
                idents.append(Identifier(kind, value, ident.extra))
            channels = self._channels(p, idents, warnings)
            resolved.append(_Resolved(p, idents, channels))
        if require_identifiers and not any(r.identifiers for r in resolved):
            if any(w in ("invalid_email", "invalid_mobile") for w in warnings):
                raise ValidationFailed("Invalid Primary Id", reason="invalid_primary_identifier")
            raise ValidationFailed("No valid identifiers passed", reason="no_identifiers",
                                   field="identifiers")
        return resolved

    @staticmethod
    def _channels(p: ProfileInput, idents: list[Identifier], warnings: list[str]) -> list[Channel]:
        if p.channels is None:
            return [Channel(i.type, i.value) for i in idents if i.type in ("mobile", "email")]
        out = []
        for ch in p.channels:
            if ch.type not in CHANNEL_TYPES:
                warnings.append("invalid_channel")
                continue
            try:
                value = normalize.identifier_value(ch.type, ch.value) if ch.type in (
                    "mobile", "email") else ch.value.strip()
            except ValidationFailed as exc:
                warnings.append(f"{exc.reason}_channel")
                continue
            out.append(Channel(ch.type, value, ch.primary, ch.verified, ch.meta, ch.attributes))
        return out

    @staticmethod
    def _merge_profile(existing: Row | None, r: _Resolved,
                       replace: frozenset[str] = frozenset()) -> _Resolved:
        """An update keeps what it does not mention: identifiers are added, not replaced, except
        those of the `replace` types, whose new values take the place of the old ones."""
        if existing is None:
            return r
        p = r.profile
        old_idents = [Identifier(i["type"], i["value"],
                                 {k: v for k, v in i.items() if k not in ("type", "value")})
                      for i in loads(existing["identifiers"])]
        kept: list[Identifier] = []
        for old in old_idents:
            if old.type not in replace:
                kept.append(old)
            elif not any(k.type == old.type for k in kept):  # new values take the old place
                kept.extend(i for i in r.identifiers if i.type == old.type)
        idents = kept + [i for i in r.identifiers
                         if not any(o.type == i.type and o.value == i.value for o in kept)]
        if p.channels is not None:
            channels = r.channels
        else:
            channels = [Channel(**c) for c in loads(existing["comm_channels"])]
            if replace:
                held = {(i.type, i.value) for i in idents}
                channels = [c for c in channels
                            if c.type not in replace or (c.type, c.value) in held]
                channels += [Channel(i.type, i.value) for i in idents
                             if i.type in replace and i.type in ("mobile", "email")
                             and not any(c.type == i.type and c.value == i.value
                                         for c in channels)]
        merged = ProfileInput(
            source=p.source, account_id=p.account_id,
            first_name=p.first_name if p.first_name is not None else existing["first_name"],
            last_name=p.last_name if p.last_name is not None else existing["last_name"],
            identifiers=idents, channels=channels,
            fields={**loads(existing["fields"]), **p.fields})
        return _Resolved(merged, idents, channels)

    @staticmethod
    async def _held_elsewhere(tx: Queryable, org_id: int, customer_id: int,
                              resolved: list[_Resolved]) -> None:
        """A Conflict naming (in `field`) the first identifier another customer holds."""
        for r in resolved:
            for ident in r.identifiers:
                hit = await repo.find_identifier(tx, org_id, ident.type, ident.value)
                if hit is not None and int(hit["customer_id"]) != customer_id:
                    raise Conflict("an identifier belongs to another customer",
                                   reason="identifier_conflict", field=ident.type)

    @staticmethod
    async def _release_replaced(tx: Queryable, org_id: int, customer_id: int,
                                before: dict[tuple[str, str], Row], written: list[_Resolved],
                                replace: frozenset[str]) -> None:
        """Replaced values no profile of the customer holds any more leave the registry."""
        dropped: set[tuple[str, str]] = set()
        for r in written:
            old = before.get((r.profile.source, r.profile.account_id))
            if old is not None:
                dropped.update((i["type"], i["value"]) for i in loads(old["identifiers"])
                               if i["type"] in replace)
        if not dropped:
            return
        for p in await tx.fetch(repo.GET_PROFILE_ROWS, org_id, customer_id):
            dropped.difference_update((i["type"], i["value"]) for i in loads(p["identifiers"]))
        for kind, value in sorted(dropped):
            await tx.execute(repo.RELEASE_IDENTIFIER, org_id, kind, value, customer_id)

    @staticmethod
    async def _owners(tx: Queryable, org_id: int, resolved: list[_Resolved]) -> set[int]:
        owners: set[int] = set()
        for r in resolved:
            for ident in r.identifiers:
                hit = await repo.find_identifier(tx, org_id, ident.type, ident.value)
                if hit is not None:
                    owners.add(int(hit["customer_id"]))
        return owners

    async def _write_profiles(self, tx: Queryable, org_id: int, customer_id: int,
                              resolved: list[_Resolved], prov: Provenance) -> None:
        for r in resolved:
            p = r.profile
            await tx.execute(
                repo.UPSERT_PROFILE, org_id, customer_id, p.source, p.account_id, p.first_name,
                p.last_name, dumps_text([i.as_json() for i in r.identifiers]),
                dumps_text([c.as_json() for c in r.channels]),
                dumps_text(scalar_fields(p.fields, "fields")), prov.at_ms, prov.till_id)
            for ident in r.identifiers:
                hit = await repo.find_identifier(tx, org_id, ident.type, ident.value)
                if hit is None:
                    await tx.execute(repo.INSERT_IDENTIFIER, org_id, ident.type, ident.value,
                                     customer_id, p.source, p.account_id)
                    again = await repo.find_identifier(tx, org_id, ident.type, ident.value)
                    if again is None or int(again["customer_id"]) != customer_id:
                        raise _IdentifierRace("another request registered the identifier first",
                                              field=ident.type)
                    if ident.type == "cardnumber" and self.cards is not None:
                        await self.cards.issue(tx, org_id, customer_id, ident, p.source,
                                               p.account_id, prov.till_id)
                elif int(hit["customer_id"]) != customer_id:
                    raise _IdentifierRace("another request registered the identifier first",
                                          field=ident.type)

    async def _refresh_derived(self, tx: Queryable, org_id: int, customer_id: int,
                               data: CustomerInput, prov: Provenance) -> None:
        """Recompute what the customer row derives from its profiles, and apply attributes."""
        row = await repo.customer(tx, org_id, customer_id)
        assert row is not None
        profile_rows = await tx.fetch(repo.GET_PROFILE_ROWS, org_id, customer_id)
        resolved = [
            _Resolved(ProfileInput(first_name=p["first_name"], last_name=p["last_name"]),
                      [Identifier(i["type"], i["value"]) for i in loads(p["identifiers"])], [])
            for p in profile_rows]
        click_id = data.click_id if data.click_id is not None else row["click_id"]
        summary = _summary(resolved, click_id)
        assoc = row["associated_till_id"]
        if data.associated_with is not None:
            assoc = await self._associated_till(tx, org_id, data.associated_with, prov.till_id)
        extended = loads(row["extended_fields"])
        if data.extended_fields is not None:
            extended.update(scalar_fields(data.extended_fields, "extendedFields"))
        metadata = loads(row["metadata"])
        if data.metadata is not None:
            metadata.update(data.metadata)
        await tx.execute(
            repo.UPDATE_CUSTOMER, org_id, customer_id, summary["external_id"],
            data.loyalty_type or row["loyalty_type"], assoc, dumps_text(extended),
            summary["name"], summary["email"], summary["mobile"], summary["search_text"],
            click_id, dumps_text(metadata),
            data.avatar if data.avatar is not None else row["avatar"],
            data.site_id if data.site_id is not None else row["site_id"], prov.at_ms,
            prov.till_id)

    @staticmethod
    async def _associated_till(tx: Queryable, org_id: int, code: str | None,
                               default: int | None) -> int | None:
        if code is None or code == "":
            return default
        till = await tenancy_repo.till_by_code(tx, org_id, code)
        if till is None:
            raise ValidationFailed(f"unknown till {code!r} in associatedWith",
                                   reason="invalid_associated_with", field="associatedWith")
        return int(till["id"])


class _IdentifierRace(PatronError):
    """Another transaction registered the same identifier first; the caller retries once."""


def scalar_fields(values: dict[str, Any], what: str) -> dict[str, Any]:
    """Fields and extended fields (of customers, and of user groups) hold scalars only."""
    if not isinstance(values, dict):
        raise ValidationFailed(f"{what} must be an object", field=what)
    for key, value in values.items():
        if not isinstance(key, str) or len(key) > 100:
            raise ValidationFailed(f"invalid {what} name", field=what)
        if value is not None and not isinstance(value, str | int | float | bool):
            raise ValidationFailed(f"{what}.{key} must be a string, number or boolean",
                                   field=f"{what}.{key}")
    return values


def _summary(resolved: list[_Resolved], click_id: str | None) -> dict[str, Any]:
    """What the customer row derives from its profiles: display name, email, mobile, and the
    search text of its identity (name, email, mobile, external id and the click id it came
    from: Linquid's identity fields, which the workspace's `search` matches)."""
    name = ""
    found: dict[str, str | None] = {"email": None, "mobile": None, "externalId": None}
    for r in resolved:
        if not name:
            name = " ".join(x for x in (r.profile.first_name, r.profile.last_name) if x)
        for ident in r.identifiers:
            if ident.type in found and found[ident.type] is None:
                found[ident.type] = ident.value
    search = " ".join(x for x in (name, found["email"], found["mobile"], found["externalId"],
                                  click_id) if x)
    return {"name": name, "email": found["email"], "mobile": found["mobile"],
            "external_id": found["externalId"], "search_text": search.lower()}
