"""Credentials and authentication: one model under three faces' schemes.

A credential belongs to one organisation and one face (its `kind`) and carries scopes. Tills
log in with Capillary Basic auth; API clients exchange a key and secret for an OAuth token; the
workspace face takes API keys directly. Verified credentials are cached briefly in-process
(keyed by a digest, never the secret) so that Argon2 runs once per credential, not per request.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from patron.auth import repository as repo
from patron.auth.redis_counts import SharedCounts, Unreachable
from patron.auth.secrets import (
    digest,
    hash_password,
    new_secret,
    till_password_digest,
    verify_password,
)
from patron.clock import Clock
from patron.db.database import Database, Queryable
from patron.db.ids import next_id
from patron.errors import Conflict, NotFound, RateLimited, Unauthorized, ValidationFailed

LOYALTY, MARKETING, WORKSPACE = "loyalty", "marketing", "workspace"

KIND_FACE = {
    "till": LOYALTY,
    "loyalty_client": LOYALTY,
    "marketing_client": MARKETING,
    "workspace_key": WORKSPACE,
}

# The scopes each face's routes ask for (`route_scope`), and so the only ones a credential of
# that face may hold. The workspace scopes are the ones seed 003 names (`analytics:read` for
# Linquid's analytics routes, which no route serves yet), and the native API's engagement
# scopes; the other faces have one read and one write scope each, the marketing face only its
# read. A credential gets all of its face's unless told otherwise.
FACE_SCOPES: dict[str, tuple[str, ...]] = {
    LOYALTY: ("customers:read", "customers:write", "events:read", "events:write"),
    MARKETING: ("customers:read",),
    WORKSPACE: ("links:read", "analytics:read", "links:create", "links:update", "links:delete",
                "engagement:read", "engagement:write"),
}
DEFAULT_SCOPES = {kind: " ".join(FACE_SCOPES[face]) for kind, face in KIND_FACE.items()}


def route_scope(face: str, scope: str) -> str:
    """The scope a route of `face` asks for, one of FACE_SCOPES (checked when the route is
    defined, so that the list stays the one list)."""
    if scope not in FACE_SCOPES[face]:
        raise ValueError(f"{scope!r} is not a {face} scope (auth.service.FACE_SCOPES)")
    return scope


def checked_scopes(kind: str, scopes: str | None) -> str:
    """The scopes a new credential of `kind` holds, space-separated: its face's own when none
    are given, else the ones given, each of which must be its face's; an unknown one (a typo)
    would store a credential that no route ever admits."""
    known = FACE_SCOPES[KIND_FACE[kind]]
    if scopes is None:
        return DEFAULT_SCOPES[kind]
    names = list(dict.fromkeys(scopes.split()))
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        said = (f"unknown scope{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}"
                if unknown else "no scope given")
        raise ValidationFailed(f"{said} for a {kind} credential; its scopes are: "
                               f"{' '.join(known)}", reason="unknown_scope", field="scopes")
    return " ".join(names)


# The longest till code (its login): Capillary till codes are short names such as `store.server1`.
MAX_TILL_LOGIN = 100


def check_till_login(login: str) -> None:
    """A till's login (its code) is the user name of Capillary Basic authentication,
    `code:md5hex`, which is split at its first colon (`till_basic`): a login holding ':'
    could never sign in. The one rule for `patron tills create` and every till credential."""
    if not login or ":" in login or len(login) > MAX_TILL_LOGIN or not login.isprintable():
        raise ValidationFailed(f"a till code is 1 to {MAX_TILL_LOGIN} printable characters "
                               "without ':' (it is the till's login)")


@dataclass(frozen=True, slots=True)
class Principal:
    org_id: int
    credential_id: int
    kind: str
    till_id: int | None
    scopes: frozenset[str]
    expires_at: int | None = None  # epoch ms after which it no longer holds (access tokens)

    @property
    def face(self) -> str:
        return KIND_FACE[self.kind]


@dataclass(frozen=True)
class IssuedCredential:
    id: int
    kind: str
    login: str  # till code, client key / client id, or the API key itself
    secret: str | None  # shown once; None for API keys (the key is the secret)


class _TTLCache:
    def __init__(self, ttl: float, max_entries: int = 50_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._items: dict[str, tuple[float, Principal]] = {}

    def get(self, key: str) -> Principal | None:
        hit = self._items.get(key)
        if hit is None:
            return None
        if hit[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        return hit[1]

    def put(self, key: str, value: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._items) >= self.max_entries:
            self._items.clear()
        self._items[key] = (time.monotonic() + self.ttl, value)

    def drop_credential(self, org_id: int, credential_id: int) -> None:
        for key, (_, p) in list(self._items.items()):
            if p.org_id == org_id and p.credential_id == credential_id:
                self._items.pop(key, None)

    def drop(self, key: str) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()


def _principal(row: Any, kind: str | None = None) -> Principal:
    return Principal(
        org_id=row["org_id"],
        credential_id=row["credential_id"] if "credential_id" in row.keys() else row["id"],
        kind=kind or row["kind"],
        till_id=row["till_id"],
        scopes=frozenset(row["scopes"].split()),
    )


# Failed sign-ins allowed per login (a till code or OAuth client id) per minute, in each server
# worker (in all, with PATRON_REDIS_URL), before further tries of that login are refused with
# 429 unchecked: a password cannot be guessed faster than this. A login already verified in the
# worker is unaffected (its header digest is in `_verified`), so someone failing on purpose
# cannot lock out a till at work.
FAILED_SIGN_INS_PER_MINUTE = 10


class _FailedSignIns:
    """Failed sign-ins per login, each login counted over the minute from its first failure
    (not in clock-minute windows, which let a guesser spend a whole allowance on each side of a
    minute's turn: twice the limit in a second)."""

    WINDOW_SECONDS = 60.0
    MOST_LOGINS = 100_000  # bounded: a flood of made-up names only forgets the counts

    def __init__(self, per_minute: int, shared: SharedCounts | None = None) -> None:
        self.per_minute = per_minute
        # With a shared count, every worker and host counts a login's failures together; in
        # this worker's own count only while the shared one cannot be reached.
        self.shared = shared
        self._failures: dict[str, tuple[float, int]] = {}  # login -> (first failure, count)
        self._unreachable = Unreachable("failed sign-ins")

    @staticmethod
    def _key(login: str) -> str:
        return "patron:sign-in:" + digest(login)  # the login itself stays out of Redis

    async def check(self, login: str) -> None:
        if self.shared is not None:
            try:
                count, left = await self.shared.held(self._key(login))
            except Exception:  # noqa: BLE001 - Redis down: this worker's count meanwhile
                self._unreachable()
            else:
                if count >= self.per_minute:
                    raise RateLimited("too many failed sign-ins for this login; try again "
                                      "later", retry_after=left)
                return
        self._check_here(login)

    async def failed(self, login: str) -> None:
        if self.shared is not None:
            try:
                await self.shared.add_one_from_first(self._key(login),
                                                     int(self.WINDOW_SECONDS))
                return
            except Exception:  # noqa: BLE001
                self._unreachable()
        self._failed_here(login)

    def _counted(self, login: str, now: float) -> tuple[float, int]:
        first, count = self._failures.get(login, (now, 0))
        if now - first >= self.WINDOW_SECONDS:
            self._failures.pop(login, None)
            return now, 0
        return first, count

    def _check_here(self, login: str) -> None:
        now = time.monotonic()
        first, count = self._counted(login, now)
        if count >= self.per_minute:
            raise RateLimited("too many failed sign-ins for this login; try again later",
                              retry_after=max(1, math.ceil(first + self.WINDOW_SECONDS - now)))

    def _failed_here(self, login: str) -> None:
        now = time.monotonic()
        first, count = self._counted(login, now)
        if len(self._failures) >= self.MOST_LOGINS and login not in self._failures:
            self._failures.clear()
        self._failures[login] = (first, count + 1)


@functools.cache
def _unknown_login_hash() -> str:
    """An Argon2 hash no secret matches, verified against when a login does not exist, so that
    an unknown login costs as long as a wrong secret and logins cannot be told by timing."""
    return hash_password(new_secret())


class AuthService:
    def __init__(self, db: Database, clock: Clock, cache_seconds: float = 30.0,
                 check_seconds: float = 1.0, shared: SharedCounts | None = None) -> None:
        self.db = db
        self.clock = clock
        self._cache = _TTLCache(cache_seconds)
        # Credential changes made elsewhere (another worker or host, the CLI): the store's count
        # of them is read at most once per `check_seconds`, and the cache dropped when it moved.
        self._check_seconds = check_seconds
        self._next_check = 0.0  # time.monotonic() of the next read of the count
        self._changes_seen: int | None = None
        self._cache_epoch = 0  # how many times the cache was dropped for a change
        self._failed = _FailedSignIns(FAILED_SIGN_INS_PER_MINUTE, shared)
        self._verifying: dict[str, asyncio.Future[Principal]] = {}
        # digest(Authorization header) -> the stored hash it was verified against: when the cache
        # period ends, a credential whose stored hash is unchanged (not rotated or revoked) is
        # accepted again without another Argon2 run. Holds digests and hashes, never secrets.
        self._verified: dict[str, str] = {}

    async def notice_changes(self) -> None:
        """Drops this process's cache of verified credentials when a credential was revoked or
        rotated anywhere since the last look, so that a revoked credential stops working
        everywhere within `check_seconds`, not only in the process that revoked it. Looks at
        most once per `check_seconds` (one small read); called before every authentication."""
        now = time.monotonic()
        if now < self._next_check:
            return
        self._next_check = now + self._check_seconds
        changes = int(await self.db.fetchval(repo.CREDENTIAL_CHANGES))
        if self._changes_seen is not None and changes != self._changes_seen:
            self._cache.clear()
            self._cache_epoch += 1
        self._changes_seen = changes

    def _keep(self, cache_key: str, principal: Principal, epoch: int) -> None:
        """Caches a principal verified from what the store held at `epoch`, unless the cache
        was dropped since: what it was verified from may be what was revoked."""
        if epoch == self._cache_epoch:
            self._cache.put(cache_key, principal)

    async def _cached(self, cache_key: str,
                      verify: Callable[[], Awaitable[Principal]]) -> Principal:
        """The principal for a credential, verified once per cache period: concurrent requests
        with the same credential wait for one verification instead of each running Argon2."""
        await self.notice_changes()
        hit = self._cache.get(cache_key)
        if hit is not None:
            return hit
        pending = self._verifying.get(cache_key)
        if pending is None:
            epoch = self._cache_epoch
            pending = asyncio.ensure_future(verify())
            self._verifying[cache_key] = pending
            pending.add_done_callback(lambda _: self._verifying.pop(cache_key, None))
            principal = await asyncio.shield(pending)
            self._keep(cache_key, principal, epoch)
            return principal
        return await asyncio.shield(pending)

    # -- issuing credentials -------------------------------------------------------------

    async def create_credential(self, conn: Queryable, org_id: int, kind: str, *, name: str = "",
                                login: str | None = None, secret: str | None = None,
                                till_id: int | None = None, scopes: str | None = None,
                                test_mode: bool = False) -> IssuedCredential:
        """A new credential; its secret is returned here and nowhere else."""
        if kind not in KIND_FACE:
            raise ValidationFailed(f"unknown credential kind {kind!r}")
        if kind == "till" and login is not None:
            check_till_login(login)
        scopes = checked_scopes(kind, scopes)
        lookup, secret_hash, hint, shown_login, shown_secret = self._material(
            kind, login, secret, test_mode)
        if login and await conn.fetchval(repo.LOGIN_TAKEN, kind, lookup) is not None:
            raise Conflict(f"the login {login!r} is taken: a {kind} login is unique across the "
                           "store (it signs in without naming its organisation)",
                           reason="login_taken")
        cred_id = await next_id(conn)
        await conn.execute(repo.INSERT_CREDENTIAL, org_id, cred_id, kind, name, lookup,
                           secret_hash, hint, scopes, till_id,
                           self.clock.now_ms())
        return IssuedCredential(cred_id, kind, shown_login, shown_secret)

    @staticmethod
    def _material(kind: str, login: str | None, secret: str | None,
                  test_mode: bool) -> tuple[str, str | None, str, str, str | None]:
        if kind == "workspace_key":
            key = secret or f"lw_{'test' if test_mode else 'live'}_{new_secret(24)}"
            if not key.startswith(("lw_live_", "lw_test_")):
                raise ValidationFailed("workspace keys start with lw_live_ or lw_test_")
            return digest(key), None, key[:12] + "…", key, None
        if not login:
            raise ValidationFailed(f"a {kind} credential needs a login")
        secret = secret or new_secret(24)
        stored = till_password_digest(secret) if kind == "till" else secret
        return login, hash_password(stored), login, login, secret

    async def list_credentials(self, org_id: int) -> list[dict[str, Any]]:
        rows = await self.db.fetch(repo.LIST_CREDENTIALS, org_id)
        return [dict(r) for r in rows]

    async def revoke_credential(self, org_id: int, credential_id: int) -> None:
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(repo.GET_CREDENTIAL, org_id, credential_id)
            if row is None or row["revoked_at"] is not None:
                raise NotFound("no such active credential")
            await tx.execute(repo.REVOKE_CREDENTIAL, org_id, credential_id, now)
            await tx.execute(repo.REVOKE_CREDENTIAL_TOKENS, org_id, credential_id, now)
            await tx.execute(repo.COUNT_CREDENTIAL_CHANGE)
        self._cache.drop_credential(org_id, credential_id)

    async def rotate_credential(self, org_id: int, credential_id: int) -> IssuedCredential:
        """A new secret for the same credential; the old secret and its tokens stop working."""
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(repo.GET_CREDENTIAL, org_id, credential_id)
            if row is None or row["revoked_at"] is not None:
                raise NotFound("no such active credential")
            kind = row["kind"]
            login = None if kind == "workspace_key" else row["lookup_key"]
            test_mode = kind == "workspace_key" and row["hint"].startswith("lw_test_")
            lookup, secret_hash, hint, shown_login, shown_secret = self._material(
                kind, login, None, test_mode)
            await tx.execute(repo.UPDATE_CREDENTIAL_SECRET, org_id, credential_id, lookup,
                             secret_hash, hint)
            await tx.execute(repo.REVOKE_CREDENTIAL_TOKENS, org_id, credential_id,
                             self.clock.now_ms())
            await tx.execute(repo.COUNT_CREDENTIAL_CHANGE)
        self._cache.drop_credential(org_id, credential_id)
        return IssuedCredential(credential_id, kind, shown_login, shown_secret)

    # -- authenticating ------------------------------------------------------------------

    async def till_basic(self, header_value: str) -> Principal:
        """`Basic base64(till:md5hex(password))`, hex in either case."""
        async def verify() -> Principal:
            try:
                decoded = base64.b64decode(header_value.split(" ", 1)[1].strip(), validate=True)
                till_code, _, md5hex = decoded.decode().partition(":")
            except (IndexError, ValueError, binascii.Error, UnicodeDecodeError):
                raise Unauthorized("malformed Basic credentials") from None
            row = await self.db.fetchrow(repo.FIND_CREDENTIAL, "till", till_code)
            if row is None or self._verified.get(cache_key) != row["secret_hash"]:
                if not await self._secret_matches("till", till_code, row,
                                                  md5hex.strip().lower()):
                    raise Unauthorized("invalid till credentials")
                assert row is not None  # noqa: S101 - no secret matches an unknown login
                if len(self._verified) >= 10_000:
                    self._verified.clear()
                self._verified[cache_key] = row["secret_hash"]
            return _principal(row)

        cache_key = "b:" + digest(header_value)
        return await self._cached(cache_key, verify)

    async def _client_secret(self, kind: str, login: str, secret: str) -> Any:
        row = await self.db.fetchrow(repo.FIND_CREDENTIAL, kind, login)
        if not await self._secret_matches(kind, login, row, secret):
            raise Unauthorized("invalid client credentials")
        return row

    async def _secret_matches(self, kind: str, login: str, row: Any, secret: str) -> bool:
        """Whether `secret` is the one stored for the login (`row`, None when there is no such
        login), checked the same way either way; refused unchecked (429) after too many
        failures of the login this minute."""
        who = f"{kind}:{login}"
        await self._failed.check(who)
        stored = row["secret_hash"] if row is not None else _unknown_login_hash()
        # Argon2 takes milliseconds of CPU: off the event loop.
        if row is not None and await asyncio.to_thread(verify_password, stored, secret):
            return True
        if row is None:
            await asyncio.to_thread(verify_password, stored, secret)
        await self._failed.failed(who)
        return False

    async def api_key(self, key: str) -> Principal:
        key_hash = digest(key)

        async def verify() -> Principal:
            row = await self.db.fetchrow(repo.FIND_CREDENTIAL, "workspace_key", key_hash)
            if row is None:
                raise Unauthorized("Invalid or missing API key", reason="invalid_api_key")
            return _principal(row)

        return await self._cached("k:" + key_hash, verify)

    async def bearer_token(self, token: str, face: str) -> Principal:
        token_hash = digest(token)
        cache_key = "t:" + token_hash
        await self.notice_changes()
        hit = self._cache.get(cache_key)
        if hit is not None and hit.face == face:
            if hit.expires_at is not None and hit.expires_at <= self.clock.now_ms():
                self._cache.drop(cache_key)
                raise Unauthorized("invalid or expired access token")
            return hit
        epoch = self._cache_epoch
        row = await self.db.fetchrow(repo.FIND_TOKEN, token_hash)
        if (row is None or row["kind"] != "access" or row["face"] != face
                or row["expires_at"] <= self.clock.now_ms()):
            raise Unauthorized("invalid or expired access token")
        principal = replace(_principal(row, row["credential_kind"]),
                            expires_at=int(row["expires_at"]))
        self._keep(cache_key, principal, epoch)
        return principal

    # -- OAuth grants --------------------------------------------------------------------

    async def _issue(self, tx: Queryable, org_id: int, credential_id: int, face: str,
                     kind: str, ttl: int, pair_hash: str | None = None) -> str:
        token = new_secret(32)
        now = self.clock.now_ms()
        await tx.execute(repo.INSERT_TOKEN, digest(token), org_id, credential_id, kind, face,
                         pair_hash, now + ttl * 1000, now)
        return token

    async def loyalty_token(self, key: str, secret: str, ttl: int) -> str:
        row = await self._client_secret("loyalty_client", key, secret)
        async with self.db.transaction() as tx:
            return await self._issue(tx, row["org_id"], row["id"], LOYALTY, "access", ttl)

    async def marketing_tokens(self, client_id: str, secret: str, access_ttl: int,
                               refresh_ttl: int) -> tuple[str, str]:
        row = await self._client_secret("marketing_client", client_id, secret)
        return await self._marketing_pair(row["org_id"], row["id"], access_ttl, refresh_ttl)

    async def _marketing_pair(self, org_id: int, credential_id: int, access_ttl: int,
                              refresh_ttl: int) -> tuple[str, str]:
        async with self.db.transaction() as tx:
            return await self._pair(tx, org_id, credential_id, access_ttl, refresh_ttl)

    async def _pair(self, tx: Queryable, org_id: int, credential_id: int, access_ttl: int,
                    refresh_ttl: int) -> tuple[str, str]:
        refresh = await self._issue(tx, org_id, credential_id, MARKETING, "refresh",
                                    refresh_ttl)
        access = await self._issue(tx, org_id, credential_id, MARKETING, "access",
                                   access_ttl, digest(refresh))
        return access, refresh

    async def marketing_refresh(self, refresh_token: str, access_ttl: int,
                                refresh_ttl: int) -> tuple[str, str]:
        """A refresh token is spent once: it is revoked as the new pair is issued."""
        token_hash = digest(refresh_token)
        row = await self.db.fetchrow(repo.FIND_TOKEN, token_hash)
        if (row is None or row["kind"] != "refresh" or row["face"] != MARKETING
                or row["expires_at"] <= self.clock.now_ms()):
            raise Unauthorized("invalid or expired refresh token")
        async with self.db.transaction() as tx:
            if await tx.fetchval(repo.SPEND_REFRESH_TOKEN, token_hash,
                                 self.clock.now_ms()) is None:
                raise Unauthorized("invalid or expired refresh token")  # spent meanwhile
            return await self._pair(tx, row["org_id"], row["credential_id"], access_ttl,
                                    refresh_ttl)

    async def purge_expired_tokens(self, org_id: int) -> None:
        """Drop the organisation's expired access and refresh tokens (the scheduled jobs)."""
        await self.db.execute(repo.PURGE_EXPIRED_TOKENS, org_id, self.clock.now_ms())

    async def revoke_token(self, principal: Principal, token: str) -> None:
        """Revokes the token and its pair (access and refresh of one grant) for this org only."""
        token_hash = digest(token)
        row = await self.db.fetchrow(repo.FIND_TOKEN, token_hash)
        if row is None or row["org_id"] != principal.org_id:
            raise Unauthorized("unknown token")
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            await tx.execute(repo.REVOKE_TOKEN, token_hash, now)
            if row["pair_hash"]:
                await tx.execute(repo.REVOKE_TOKEN, row["pair_hash"], now)
            await tx.execute(repo.REVOKE_PAIRED_TOKENS, principal.org_id, token_hash, now)
            await tx.execute(repo.COUNT_CREDENTIAL_CHANGE)
        # Tokens of this grant may sit in the cache under their own digests: drop the lot.
        self._cache.drop_credential(principal.org_id, row["credential_id"])
