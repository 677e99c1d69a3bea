"""Organisations and what belongs to them: sites, tills, and the first credentials of each face."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from patron.auth.service import AuthService, check_till_login
from patron.clock import Clock, zone_named
from patron.db.database import Database, Queryable
from patron.db.ids import next_id
from patron.errors import NotFound, ValidationFailed
from patron.jsonio import dumps_text, loads
from patron.tenancy import repository as repo

TILL_TYPES = ("TILL", "STORE", "ZONE", "CONCEPT", "ADMIN_USER")


@dataclass
class OrgCredentials:
    """Everything `patron org create` prints once: the secrets are not stored in clear."""

    org_id: int
    name: str
    site_id: int
    till_code: str
    till_password: str
    loyalty_key: str
    loyalty_secret: str
    marketing_client_id: str
    marketing_client_secret: str
    workspace_key: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Tenancy:
    def __init__(self, db: Database, clock: Clock, auth: AuthService) -> None:
        self.db = db
        self.clock = clock
        self.auth = auth

    async def create_org(self, name: str, *, org_id: int | None = None, time_zone: str = "UTC",
                         settings: dict[str, Any] | None = None,
                         fixed: dict[str, str] | None = None) -> OrgCredentials:
        """A new organisation with a site, a till and one credential per face. `fixed` pins
        logins and secrets (the demo's documented values); otherwise they are generated."""
        name = name.strip()
        if not name or len(name) > 200:
            raise ValidationFailed("an organisation needs a name of 1 to 200 characters")
        fixed = fixed or {}
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            org_id = org_id or await next_id(tx)
            await tx.execute(repo.INSERT_ORG, org_id, name, time_zone,
                             dumps_text(settings or {}), now)
            site_id = int(fixed.get("site_id") or await next_id(tx))
            await repo.insert_site(tx, org_id, site_id, name, fixed.get("site_url", ""),
                                   fixed.get("site_subdomain", ""), now)
            till_id = await next_id(tx)
            till_code = fixed.get("till_code") or f"till.{org_id}"
            await repo.insert_till(tx, org_id, till_id, till_code, till_code, "TILL", "", now)
            till = await self.auth.create_credential(
                tx, org_id, "till", name="default till", login=till_code,
                secret=fixed.get("till_password"), till_id=till_id)
            loyalty = await self.auth.create_credential(
                tx, org_id, "loyalty_client", name="default API client",
                login=fixed.get("loyalty_key") or f"key_{org_id}_{till_id}",
                secret=fixed.get("loyalty_secret"), till_id=till_id)
            marketing = await self.auth.create_credential(
                tx, org_id, "marketing_client", name="default API key",
                login=fixed.get("marketing_client_id") or f"client_{org_id}_{till_id}",
                secret=fixed.get("marketing_client_secret"), till_id=till_id)
            workspace = await self.auth.create_credential(
                tx, org_id, "workspace_key", name="default API key",
                secret=fixed.get("workspace_key"), till_id=till_id)
        assert till.secret and loyalty.secret and marketing.secret
        return OrgCredentials(org_id, name, site_id, till.login, till.secret, loyalty.login,
                              loyalty.secret, marketing.login, marketing.secret, workspace.login)

    async def time_zone(self, org_id: int) -> ZoneInfo:
        """The organisation's time zone (`patron org configure --time-zone`): naive date-times
        the loyalty face is sent are its local times (clock.parse_iso)."""
        return zone_named(await self.db.fetchval(repo.ORG_TIME_ZONE, org_id))

    async def org(self, org_id: int) -> dict[str, Any]:
        row = await self.db.fetchrow(repo.GET_ORG, org_id)
        if row is None:
            raise NotFound("no such organisation")
        out = dict(row)
        out["settings"] = loads(out["settings"])
        return out

    async def configure(self, org_id: int, *, otp_masking: bool | None = None,
                        time_zone: str | None = None) -> dict[str, Any]:
        """Change an organisation's settings: OTP masking in interaction reads, its time zone."""
        if time_zone is not None:
            try:
                ZoneInfo(time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValidationFailed(f"unknown time zone {time_zone!r}") from None
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(repo.GET_ORG, org_id)
            if row is None:
                raise NotFound("no such organisation")
            settings = loads(row["settings"])
            if otp_masking is not None:
                settings["otpMasking"] = otp_masking
            await tx.execute(repo.SET_ORG_SETTINGS, org_id, dumps_text(settings),
                             time_zone or row["time_zone"])
        return await self.org(org_id)

    async def org_by_name(self, name: str) -> int | None:
        found = await self.db.fetchval(repo.FIND_ORG_BY_NAME, name)
        return None if found is None else int(found)

    async def orgs(self) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.db.fetch(repo.LIST_ORGS)]

    async def add_till(self, org_id: int, code: str, name: str | None = None,
                       till_type: str = "TILL", *, till_id: int | None = None,
                       description: str = "", conn: Queryable | None = None) -> int:
        if till_type not in TILL_TYPES:
            raise ValidationFailed(f"till type must be one of {', '.join(TILL_TYPES)}")
        code = code.strip()
        if not code:
            raise ValidationFailed("a till needs a code")
        check_till_login(code)  # the code is the till's login

        async def insert(tx: Queryable) -> int:
            if await repo.till_by_code(tx, org_id, code) is not None:
                raise ValidationFailed(f"till {code!r} exists")
            new_id = till_id or await next_id(tx)
            await repo.insert_till(tx, org_id, new_id, code, name or code, till_type,
                                   description, self.clock.now_ms())
            return new_id

        if conn is not None:
            return await insert(conn)
        async with self.db.transaction() as tx:
            return await insert(tx)

    async def tills(self, org_id: int) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.db.fetch(repo.LIST_TILLS, org_id)]

    async def till_id(self, org_id: int, code: str) -> int:
        row = await repo.till_by_code(self.db, org_id, code)
        if row is None:
            raise NotFound(f"no till {code!r}")
        return int(row["id"])

    async def sites(self, org_id: int, limit: int, offset: int) -> tuple[list[dict], int]:
        rows = await self.db.fetch(repo.LIST_SITES, org_id, limit, offset)
        total = await self.db.fetchval(repo.COUNT_SITES, org_id)
        return [repo.site_dict(r) for r in rows], int(total)

    async def site(self, org_id: int, site_id: int) -> dict[str, Any]:
        row = await self.db.fetchrow(repo.GET_SITE, org_id, site_id)
        if row is None:
            raise NotFound("no such site")
        return repo.site_dict(row)
