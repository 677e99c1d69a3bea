"""User groups (Capillary's userGroup2, group loyalty): groups with a size limit, customers who
join and leave them, one primary member per group, and the points the group's members pool.

Rules (docs/compat/loyalty.md, "User groups"):
- A group has a unique external id (at most 50 characters), a name (at most 50) and a maximum
  size from 1 to 30,000 (Capillary's default product limit). Deleting a group keeps it as
  `DELETED`, every membership exited, its external id still taken.
- A member is an active customer. A group has at most `maxGroupSize` active members. Its primary
  member is set once: a group that ever had one cannot get another, and a customer is the primary
  member of at most one group at a time. When the primary member leaves, the group becomes
  `INACTIVE` (defunct) and takes no more members.
- Leaving keeps the membership as exited; joining again makes it current, with a new join date
  (the clock's now). PII erasure makes the customer leave every group.
- A group holds no points of its own: its points in each program are the sum of what its active
  members hold there (their `loyalty_members` rows), and its lifetime purchases the sum of theirs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from patron.clock import Clock
from patron.customers import repository as customers_repo
from patron.customers.service import Customers, scalar_fields
from patron.db.database import Database, Queryable, Row, is_unique_violation
from patron.db.ids import next_id
from patron.db.statement import value_list
from patron.errors import Conflict, NotFound, ValidationFailed
from patron.groups import repository as repo
from patron.jsonio import dumps_text, loads
from patron.loyalty.service import Loyalty, ProgramEntry

ACTIVE, INACTIVE, DELETED = "ACTIVE", "INACTIVE", "DELETED"
MAX_GROUP_SIZE = 30_000  # Capillary's CONF_MAX_FLEET_GROUP_SIZE default
MAX_TEXT = 50
PERMISSIONS = ("allow_points_redemption", "allow_points_transfer", "block_points_redemption",
               "block_points_transfer")
LISTED_MEMBERS = 1000  # members in group details; the members route pages through all
ALL_TIME = (0, 253_402_300_800_000)


@dataclass(frozen=True)
class GroupRef:
    """A group as a request names it: by id, else by external id."""

    id: int | None = None
    external_id: str | None = None

    def __str__(self) -> str:
        return str(self.id) if self.id is not None else str(self.external_id or "")


@dataclass(frozen=True)
class Group:
    id: int
    external_id: str
    name: str
    max_size: int
    status: str
    extended_fields: dict[str, Any]
    created_at: int
    created_by: int | None
    updated_at: int

    @classmethod
    def of(cls, row: Row) -> Group:
        return cls(int(row["id"]), row["external_id"], row["name"], int(row["max_size"]),
                   row["status"], loads(row["extended_fields"]), row["created_at"],
                   row["created_by"], row["updated_at"])


@dataclass(frozen=True)
class Membership:
    group_id: int
    customer_id: int
    primary_member: bool
    default_group: bool
    permissions: list[str]
    joined_at: int
    left_at: int | None

    @property
    def active(self) -> bool:
        return self.left_at is None

    @classmethod
    def of(cls, row: Row) -> Membership:
        return cls(int(row["group_id"]), int(row["customer_id"]), bool(row["primary_member"]),
                   bool(row["default_group"]), loads(row["permissions"]), row["joined_at"],
                   row["left_at"])


@dataclass(frozen=True)
class GroupInput:
    """A create (every field but the name required) or an update (any field; None: unchanged)."""

    external_id: str | None = None
    name: str | None = None
    max_size: int | None = None
    extended_fields: dict[str, Any] | None = None


@dataclass(frozen=True)
class PooledPoints:
    """One program's points summed over a group's active members (thousandths)."""

    program: ProgramEntry
    points: int = 0
    lifetime_points: int = 0
    redeemed_points: int = 0
    expired_points: int = 0
    returned_points: int = 0
    adjusted_points: int = 0


@dataclass(frozen=True)
class Pool:
    active_members: int
    exited_members: int
    lifetime_purchases: int  # thousandths
    points: list[PooledPoints]  # one per program, the default first


@dataclass(frozen=True)
class GroupDetails:
    group: Group
    members: list[Membership]  # at most LISTED_MEMBERS: active first, the primary first
    pool: Pool


@dataclass(frozen=True)
class CustomerGroup:
    group: Group
    membership: Membership
    pool: Pool | None


@dataclass(frozen=True)
class CustomerGroups:
    groups: list[CustomerGroup]
    total: int | None  # of the list the page was taken from, when asked


def _not_found(ref: GroupRef | int) -> NotFound:
    return NotFound(f"Group id/externalId/primary userId {ref} passed is not valid",
                    reason="group_not_found")


def _not_usable(group: Group) -> ValidationFailed:
    return ValidationFailed(f"Group id {group.id} is invalid: the group is {group.status}",
                            reason="group_invalid")


def _taken(external_id: str) -> Conflict:
    return Conflict(f"Group external Id {external_id} already exists",
                    reason="group_external_id_exists")


def _text(value: str, what: str) -> str:
    if len(value) > MAX_TEXT:
        raise ValidationFailed(f"{what} must be at most {MAX_TEXT} characters",
                               reason="group_details_invalid", field=what)
    return value


def _external_id(value: str | None) -> str:
    if value is None or not value.strip():
        raise ValidationFailed("Group externalId can't be null",
                               reason="group_external_id_missing", field="externalId")
    return _text(value.strip(), "externalId")


def _max_size(value: int) -> int:
    if value <= 0:
        raise ValidationFailed("Group max size field should be a positive value",
                               reason="group_size_not_positive", field="maxGroupSize")
    if value > MAX_GROUP_SIZE:
        raise ValidationFailed(f"Group max size can not exceed product limit {MAX_GROUP_SIZE}",
                               reason="group_size_over_limit", field="maxGroupSize")
    return value


class Groups:
    def __init__(self, db: Database, clock: Clock, customers: Customers,
                 loyalty: Loyalty) -> None:
        self.db = db
        self.clock = clock
        self.customers = customers
        self.loyalty = loyalty

    # -- groups -------------------------------------------------------------------------------

    async def create(self, org_id: int, data: GroupInput, till_id: int | None, *,
                     group_id: int | None = None) -> int:
        external_id = _external_id(data.external_id)
        name = _text(data.name or "", "groupName")
        if data.max_size is None:
            raise ValidationFailed("Field maxGroupSize is mandatory",
                                   reason="group_field_missing", field="maxGroupSize")
        max_size = _max_size(data.max_size)
        extended = scalar_fields(data.extended_fields or {}, "extendedFields")
        now = self.clock.now_ms()
        try:
            async with self.db.transaction() as tx:
                if await tx.fetchrow(repo.GROUP_BY_EXTERNAL_ID, org_id, external_id) is not None:
                    raise _taken(external_id)
                new_id = group_id if group_id is not None else await next_id(tx)
                await tx.execute(repo.INSERT_GROUP, org_id, new_id, external_id, name, max_size,
                                 dumps_text(extended), now, till_id)
        except Exception as exc:
            if is_unique_violation(exc):  # created concurrently under the same external id
                raise _taken(external_id) from None
            raise
        return new_id

    async def find(self, org_id: int, ref: GroupRef, conn: Queryable | None = None) -> Group:
        """The group a request names; another organisation's group is not found, like a
        missing one."""
        conn = conn or self.db
        if ref.id is not None:
            row = await conn.fetchrow(repo.GROUP, org_id, ref.id)
        elif ref.external_id:
            row = await conn.fetchrow(repo.GROUP_BY_EXTERNAL_ID, org_id, ref.external_id)
        else:
            raise ValidationFailed("Group query param is not passed", reason="group_ref_missing")
        if row is None:
            raise _not_found(ref)
        return Group.of(row)

    async def _locked(self, tx: Queryable, org_id: int, group_id: int) -> Group:
        row = await tx.fetchrow(repo.LOCK_GROUP, org_id, group_id)
        if row is None:
            raise _not_found(group_id)
        return Group.of(row)

    async def update(self, org_id: int, ref: GroupRef, data: GroupInput) -> Group:
        """Changes the name, maximum size, extended fields (merged) and, for a group named by
        id, the external id."""
        if ref.id is None and not ref.external_id:
            raise ValidationFailed("Group details not passed", reason="group_details_missing")
        rename = None
        if ref.id is not None and data.external_id is not None and data.external_id.strip():
            rename = _text(data.external_id.strip(), "externalId")
        if (rename is None and data.name is None and data.max_size is None
                and data.extended_fields is None):
            raise ValidationFailed("Nothing to update in the group", reason="nothing_to_update")
        name = None if data.name is None else _text(data.name, "groupName")
        max_size = None if data.max_size is None else _max_size(data.max_size)
        extended = None if data.extended_fields is None else scalar_fields(
            data.extended_fields, "extendedFields")
        now = self.clock.now_ms()
        try:
            async with self.db.transaction() as tx:
                group = await self._locked(tx, org_id, (await self.find(org_id, ref, tx)).id)
                if group.status == DELETED:
                    raise _not_usable(group)
                if rename is not None and rename != group.external_id and await tx.fetchrow(
                        repo.GROUP_BY_EXTERNAL_ID, org_id, rename) is not None:
                    raise _taken(rename)
                if max_size is not None:
                    active = int(await tx.fetchval(repo.ACTIVE_MEMBER_COUNT, org_id, group.id))
                    if max_size < active:
                        raise ValidationFailed(
                            f"Group has {active} members, more than maxGroupSize {max_size}",
                            reason="group_size_below_members", field="maxGroupSize")
                group = dataclasses.replace(
                    group, external_id=rename or group.external_id,
                    name=group.name if name is None else name,
                    max_size=group.max_size if max_size is None else max_size,
                    extended_fields={**group.extended_fields, **(extended or {})},
                    updated_at=now)
                await tx.execute(repo.UPDATE_GROUP, org_id, group.id, group.external_id,
                                 group.name, group.max_size, dumps_text(group.extended_fields),
                                 now)
        except Exception as exc:
            if rename is not None and is_unique_violation(exc):
                raise _taken(rename) from None
            raise
        return group

    async def delete(self, org_id: int, ref: GroupRef) -> None:
        """The group becomes DELETED and every member leaves it; the row stays."""
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            group = await self._locked(tx, org_id, (await self.find(org_id, ref, tx)).id)
            if group.status == DELETED:
                raise _not_usable(group)
            await tx.execute(repo.EXIT_ALL_MEMBERS, org_id, group.id, now)
            await tx.execute(repo.SET_GROUP_STATUS, org_id, group.id, DELETED, now)

    async def details(self, org_id: int, ref: GroupRef) -> GroupDetails:
        group = await self.find(org_id, ref)
        rows = await self.db.fetch(repo.GROUP_MEMBERS, org_id, group.id, LISTED_MEMBERS)
        pools = await self._pools(org_id, [group.id])
        return GroupDetails(group, [Membership.of(r) for r in rows], pools[group.id])

    async def _pools(self, org_id: int, group_ids: list[int]) -> dict[int, Pool]:
        """What the groups' active members pool: counts, lifetime purchases, points per
        program (every program, the default first; zero where no member has a row)."""
        ids = value_list(self.db, group_ids)
        totals = {int(r["group_id"]): r
                  for r in await self.db.fetch(repo.GROUP_TOTALS, org_id, ids)}
        sums: dict[int, dict[int, Row]] = {}
        for r in await self.db.fetch(repo.GROUP_POINTS, org_id, ids, self.clock.now_ms()):
            sums.setdefault(int(r["group_id"]), {})[int(r["program_id"])] = r
        programs = await self.loyalty.programs(org_id)
        out = {}
        for group_id in group_ids:
            t = totals.get(group_id)
            points = []
            for entry in programs:
                s = sums.get(group_id, {}).get(entry.id)
                # Points whose day is over count as expired, as in each member's details.
                points.append(PooledPoints(entry) if s is None else PooledPoints(
                    entry, int(s["points"]) - int(s["due"]), int(s["lifetime_points"]),
                    int(s["redeemed_points"]), int(s["expired_points"]) + int(s["due"]),
                    int(s["returned_points"]), int(s["adjusted_points"])))
            out[group_id] = Pool(int(t["active"]) if t else 0, int(t["exited"]) if t else 0,
                                 int(t["purchases"]) if t else 0, points)
        return out

    # -- members ------------------------------------------------------------------------------

    async def join(self, org_id: int, group_id: int, customer_id: int, *, primary: bool,
                   default_group: bool, permissions: list[str],
                   till_id: int | None) -> Membership:
        """Adds an active customer to an ACTIVE group, with the join date of now."""
        for code in permissions:
            if code not in PERMISSIONS:
                raise ValidationFailed(f"Invalid permission code {code} passed",
                                       reason="invalid_permission", field="permissions")
        await self.customers.resolve(org_id, "id", str(customer_id))  # not found / PII-deleted
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            # Customer before group, as erasure locks them: no two transactions wait on each
            # other.
            if customer_id not in await customers_repo.active_customers(
                    tx, org_id, [customer_id], lock=True):
                raise NotFound("Customer not found for the given identifiers",
                               reason="customer_not_found")
            group = await self._locked(tx, org_id, group_id)
            if group.status != ACTIVE:
                raise _not_usable(group)
            current = await tx.fetchrow(repo.MEMBERSHIP, org_id, group_id, customer_id)
            if current is not None and current["left_at"] is None:
                raise Conflict("Customer is already a member of the group",
                               reason="already_group_member")
            if primary:
                if await tx.fetchrow(repo.HAD_PRIMARY, org_id, group_id) is not None:
                    raise Conflict("Primary member exists for the group",
                                   reason="primary_member_exists")
                if await tx.fetchrow(repo.PRIMARY_ELSEWHERE, org_id, customer_id,
                                     group_id) is not None:
                    raise Conflict("User is primary member in a different group",
                                   reason="primary_in_other_group")
            if int(await tx.fetchval(repo.ACTIVE_MEMBER_COUNT, org_id, group_id)) \
                    >= group.max_size:
                raise Conflict("Total members in the group reached maximum group capacity "
                               f"{group.max_size}", reason="group_full")
            membership = Membership(group_id, customer_id, primary, primary or default_group,
                                    list(permissions), now, None)
            await tx.execute(repo.UPSERT_MEMBERSHIP, org_id, group_id, customer_id, primary,
                             membership.default_group, dumps_text(membership.permissions), now,
                             till_id)
        return membership

    async def leave(self, org_id: int, group_id: int, customer_id: int) -> None:
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            await self._locked(tx, org_id, group_id)
            row = await tx.fetchrow(repo.MEMBERSHIP, org_id, group_id, customer_id)
            if row is None or row["left_at"] is not None:
                raise ValidationFailed(f"User {customer_id} does not belong to group {group_id}",
                                       reason="not_group_member")
            await self._exit(tx, org_id, Membership.of(row), now)

    async def _exit(self, tx: Queryable, org_id: int, m: Membership, now: int) -> None:
        """One member leaves, the group's row locked; a primary member leaving makes the
        group defunct."""
        await tx.execute(repo.LEAVE, org_id, m.group_id, m.customer_id, now)
        if m.primary_member:
            group = await self._locked(tx, org_id, m.group_id)
            if group.status == ACTIVE:
                await tx.execute(repo.SET_GROUP_STATUS, org_id, m.group_id, INACTIVE, now)

    async def remove_customer(self, tx: Queryable, org_id: int, customer_id: int) -> None:
        """PII erasure: the customer leaves every group (the memberships stay, exited; they
        hold ids and dates only). Inside the erasure's transaction."""
        now = self.clock.now_ms()
        rows = await tx.fetch(repo.ACTIVE_MEMBERSHIPS_OF, org_id, customer_id)
        for m in sorted((Membership.of(r) for r in rows), key=lambda m: m.group_id):
            await self._locked(tx, org_id, m.group_id)  # groups before their member rows
            await self._exit(tx, org_id, m, now)

    async def members(self, org_id: int, group: Group, *, primary_first: bool,
                      joined_from: int | None, joined_to: int | None, limit: int,
                      offset: int) -> tuple[list[Row], int]:
        """A page of the group's current members (with the names, identifiers and default
        program points the members route shows) and how many match."""
        programs = await self.loyalty.programs(org_id)
        default_program = programs[0].id if programs else None
        since = ALL_TIME[0] if joined_from is None else joined_from
        until = ALL_TIME[1] if joined_to is None else joined_to
        rows = await self.db.fetch(repo.MEMBER_PAGE[primary_first], org_id, group.id,
                                   default_program, since, until, limit, offset,
                                   self.clock.now_ms())
        total = int(await self.db.fetchval(repo.COUNT_MEMBERS, org_id, group.id, since, until))
        return rows, total

    async def of_customer(self, org_id: int, customer_id: int, *, group_id: int | None,
                          all_groups: bool, joined_from: int | None, joined_to: int | None,
                          descending: bool, limit: int, offset: int, with_total: bool,
                          with_pool: bool) -> CustomerGroups:
        """The customer's current groups for customer details: one group (`group_id`), all of
        them (a page, by join date), or else the default one (the group marked default, else
        the one joined last). Join dates bound each list."""
        since = ALL_TIME[0] if joined_from is None else joined_from
        until = ALL_TIME[1] if joined_to is None else joined_to
        total: int | None = None
        if group_id is None and all_groups:
            rows = await self.db.fetch(repo.CUSTOMER_GROUPS[descending], org_id, customer_id,
                                       since, until, limit, offset)
            if with_total:
                total = int(await self.db.fetchval(repo.COUNT_CUSTOMER_GROUPS, org_id,
                                                   customer_id, since, until))
        else:
            if group_id is not None:
                chosen = await self.db.fetch(repo.CUSTOMER_GROUP, org_id, customer_id, since,
                                             until, group_id)
            else:
                chosen = await self.db.fetch(repo.CUSTOMER_DEFAULT_GROUP, org_id, customer_id,
                                             since, until)
            rows, total = chosen[offset:offset + limit], len(chosen)
        pools = await self._pools(org_id, [int(r["id"]) for r in rows]) \
            if with_pool and rows else {}
        return CustomerGroups([CustomerGroup(Group.of(r), Membership.of(r),
                                             pools.get(int(r["id"]))) for r in rows],
                              total if with_total else None)
