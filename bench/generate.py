"""The benchmark's data: a bench organisation and N generated customers, on SQLite or PostgreSQL.

The organisation is made by `Tenancy.create_org` (the public path) with fixed credentials. The
customers are then bulk-loaded with the raw drivers, because a million registrations through the
service would take hours; the rows are exactly the ones the service writes for the same customer
(registered in store, then joined from WeChat), and `check_against_service` proves it on a sample
before every load by registering those customers through `Customers.register` in a scratch
database and comparing every column of every row.

Each customer has two profiles, each with three identifiers and two communication channels:

- INSTORE (account ""): mobile, email, externalId; channels mobile and email (derived, as a
  registration without `commChannels` gets them);
- WECHAT (account "wxbench_oa"), joined later through the shared mobile: wechat (openid), unionId,
  mobile; channels wechat and mobile.

Ids are consecutive (`first_id` .. `first_id + count - 1`, reserved from the id sequence), so the
load run can pick random existing customers. The manifest beside the data records the range and
the credentials; data is reused while the manifest matches the count, the generator version and
the schema revision.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from patron.clock import Clock, FixedClock
from patron.config import Settings
from patron.customers.models import Channel, CustomerInput, Identifier, ProfileInput, Provenance
from patron.db import schema
from patron.db.database import Database, open_database
from patron.db.migrate import alembic_config, migrate
from patron.services import Services

GENERATOR_VERSION = 1
BENCH_DIR = Path(__file__).resolve().parent
DATA_DIR = BENCH_DIR / "data"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
# Another checkout benchmarking on the same server names its own database.
PG_DATABASE = os.environ.get("PATRON_BENCH_PG_DATABASE", "patron_bench")
ORG_NAME = "Patron Bench"
CREDENTIALS = {
    "till_code": "bench.till",
    "till_password": "bench123",
    "loyalty_key": "bench-key",
    "loyalty_secret": "bench-secret",
    "marketing_client_id": "bench-client",
    "marketing_client_secret": "bench-secret",
    "workspace_key": "lw_test_bench",
}
WECHAT_ACCOUNT = "wxbench_oa"
CHUNK = 25_000

# Customers registered between 2022-01-01 and 2025-01-01 UTC, joined from WeChat within a year.
CREATED_FROM_MS = 1_640_995_200_000
CREATED_SPAN_MS = 3 * 365 * 86_400_000
JOIN_SPAN_MS = 365 * 86_400_000

FIRST_NAMES = (
    "Aarav Aditi Akira Alejandro Amara Amelia Ana Ananya Andrei Arjun Ava Bea Carlos Chen Chloe "
    "Daniel Deepa Diego Dmitri Elena Emma Ethan Fatima Felix Freya Gabriel Hana Hiro Ibrahim Isla "
    "Ivan Jack Jin Julia Kai Karan Kavya Leila Leo Liam Lucia Mateo Maya Mei Mia Mohammed Nadia "
    "Noah Nora Olivia Omar Priya Rahul Ravi Rosa Sakura Samuel Sara Sofia Tariq Thomas Uma Vikram "
    "Wei Yara Yusuf Zara Zoe"
).split()
LAST_NAMES = (
    "Adams Ahmed Alvarez Bauer Bianchi Brown Chen Costa Das Dubois Evans Fernandes Fischer Garcia "
    "Gupta Haddad Hansen Ivanova Iyer Jansen Kato Khan Kim Kowalski Kumar Lee Lopez Martin Mehta "
    "Meyer Moreau Muller Nair Nakamura Nguyen Novak Okafor Olsen Park Patel Pereira Petrov Rao "
    "Reddy Rossi Sato Schmidt Shah Silva Singh Smith Suzuki Tanaka Taylor Thomas Wang Weber Wilson "
    "Wong Yamamoto Yilmaz Zhang"
).split()
CITIES = (
    "Mumbai Delhi Bengaluru Pune Chennai Hyderabad Kolkata Singapore Shanghai Beijing Shenzhen "
    "Dubai London Manila Jakarta"
).split()
LANGUAGES = ("en", "hi", "zh", "ta", "ms")
DOMAINS = ("example.com", "mail.example.org", "example.net")


def _mix(x: int) -> int:
    """splitmix64: a fast, well-spread 64-bit hash, so customer i is the same on every run."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()  # what patron.jsonio.dumps_text writes


_META = {"residence": False, "office": False}


def _channel(kind: str, value: str) -> dict[str, Any]:
    return {"type": kind, "value": value, "primary": True, "verified": False, "meta": _META,
            "attributes": {}}


@dataclass(frozen=True)
class Person:
    """Customer number i: everything a client would send to register and join it."""

    index: int
    first: str
    last: str
    mobile: str
    email: str
    external_id: str
    openid: str
    union_id: str
    city: str
    gender: str
    dob: str
    language: str
    created_ms: int
    joined_ms: int

    @classmethod
    def number(cls, i: int) -> Person:
        h1, h2, h3 = _mix(i), _mix(i ^ 0x5BD1E995), _mix(i + 0x2545F4914F6CDD1D)
        first = FIRST_NAMES[h1 % len(FIRST_NAMES)]
        last = LAST_NAMES[(h1 >> 8) % len(LAST_NAMES)]
        created = CREATED_FROM_MS + h2 % CREATED_SPAN_MS
        return cls(
            index=i, first=first, last=last,
            mobile=f"91{9_000_000_000 + i}",
            email=f"{first}.{last}{i}@{DOMAINS[(h1 >> 16) % len(DOMAINS)]}".lower(),
            external_id=f"CUST{i:09d}",
            openid=f"o{h2:016x}{h3 >> 20:011x}"[:28],
            union_id=f"u{h3:016x}{h1 >> 24:010x}"[:27],
            city=CITIES[(h1 >> 24) % len(CITIES)],
            gender=("Female", "Male")[(h1 >> 32) & 1],
            dob=f"{1950 + (h1 >> 33) % 55}-{1 + (h1 >> 40) % 12:02d}-{1 + (h1 >> 44) % 28:02d}"
                "T00:00:00Z",
            language=LANGUAGES[(h1 >> 50) % len(LANGUAGES)],
            created_ms=created,
            joined_ms=created + 60_000 + h3 % JOIN_SPAN_MS,
        )

    # -- the two writes a client makes, in the domain's words (for the service check) ----------

    def registration(self) -> CustomerInput:
        return CustomerInput(
            profiles=[ProfileInput(
                source="INSTORE", first_name=self.first, last_name=self.last,
                identifiers=[Identifier("mobile", self.mobile), Identifier("email", self.email),
                             Identifier("externalId", self.external_id)],
                fields={"preferred_language": self.language})],
            extended_fields={"city": self.city, "gender": self.gender, "dob": self.dob})

    def wechat_join(self) -> CustomerInput:
        return CustomerInput(profiles=[ProfileInput(
            source="WECHAT", account_id=WECHAT_ACCOUNT, first_name=self.first,
            last_name=self.last,
            identifiers=[Identifier("wechat", self.openid), Identifier("unionId", self.union_id),
                         Identifier("mobile", self.mobile)],
            channels=[Channel("wechat", self.openid), Channel("mobile", self.mobile)])])


@dataclass(frozen=True)
class Org:
    org_id: int
    site_id: int
    till_id: int


# `version` is left to its default: the triggers of migration 0011 count the profiles as they go
# in, as they do when the service writes (its value says how often the row changed, not what
# the customer is).
CUSTOMER_COLUMNS = tuple(c.name for c in schema.customers.columns if c.name != "version")
PROFILE_COLUMNS = tuple(c.name for c in schema.profiles.columns)
IDENTIFIER_COLUMNS = tuple(c.name for c in schema.identifiers.columns)


def rows_for(org: Org, customer_id: int, p: Person) -> tuple[tuple, list[tuple], list[tuple]]:
    """The customers, profiles and identifiers rows the service writes for person p."""
    name = f"{p.first} {p.last}"
    customer = {
        "org_id": org.org_id, "id": customer_id, "status": "active", "site_id": org.site_id,
        "external_id": p.external_id, "loyalty_type": "loyalty",
        "associated_till_id": org.till_id,
        "extended_fields": _dumps({"city": p.city, "gender": p.gender, "dob": p.dob}),
        "name": name, "email": p.email, "mobile": p.mobile,
        "search_text": f"{name} {p.email} {p.mobile} {p.external_id}".lower(),
        "avatar": None, "public_bio": None, "public_location": None, "public_website": None,
        "socials": None, "click_id": None, "metadata": "{}", "image_url": None,
        "fraud_status": None,
        "fraud_marked_by": None,
        "fraud_modified_at": None,
        "loyalty_created_at": p.created_ms, "loyalty_created_by": org.till_id,
        "loyalty_modified_at": p.joined_ms, "loyalty_modified_by": org.till_id,
        "created_from_source": "instore", "loyalty_score": None, "ndnc_status": "NONE",
        "optin_status": "NONE", "lifetime_purchases": 0, "net_revenue": 0, "sign_in_count": 0,
        "last_request_at": None, "bounced_at": None, "created_at": p.created_ms,
        "updated_at": p.joined_ms, "deleted_at": None, "pii_deleted_at": None,
    }
    instore_ids = [{"type": "mobile", "value": p.mobile}, {"type": "email", "value": p.email},
                   {"type": "externalId", "value": p.external_id}]
    wechat_ids = [{"type": "wechat", "value": p.openid}, {"type": "unionId", "value": p.union_id},
                  {"type": "mobile", "value": p.mobile}]
    profiles = [
        (org.org_id, customer_id, "INSTORE", "", p.first, p.last, _dumps(instore_ids),
         _dumps([_channel("mobile", p.mobile), _channel("email", p.email)]),
         _dumps({"preferred_language": p.language}), p.created_ms, org.till_id, p.created_ms,
         org.till_id, p.created_ms),
        (org.org_id, customer_id, "WECHAT", WECHAT_ACCOUNT, p.first, p.last, _dumps(wechat_ids),
         _dumps([_channel("wechat", p.openid), _channel("mobile", p.mobile)]), "{}",
         p.joined_ms, org.till_id, p.joined_ms, org.till_id, p.joined_ms),
    ]
    identifiers = [
        (org.org_id, "mobile", p.mobile, customer_id, "INSTORE", ""),
        (org.org_id, "email", p.email, customer_id, "INSTORE", ""),
        (org.org_id, "externalId", p.external_id, customer_id, "INSTORE", ""),
        (org.org_id, "wechat", p.openid, customer_id, "WECHAT", WECHAT_ACCOUNT),
        (org.org_id, "unionId", p.union_id, customer_id, "WECHAT", WECHAT_ACCOUNT),
    ]
    return tuple(customer[c] for c in CUSTOMER_COLUMNS), profiles, identifiers


assert PROFILE_COLUMNS == (
    "org_id", "customer_id", "source", "account_id", "first_name", "last_name", "identifiers",
    "comm_channels", "fields", "created_at", "created_by", "modified_at", "modified_by",
    "auto_update_at"), PROFILE_COLUMNS
assert IDENTIFIER_COLUMNS == ("org_id", "type", "value", "customer_id", "source", "account_id")


def chunks(org: Org, first_id: int, count: int) -> Iterator[tuple[list, list, list]]:
    for start in range(0, count, CHUNK):
        customers: list[tuple] = []
        profiles: list[tuple] = []
        identifiers: list[tuple] = []
        for i in range(start, min(start + CHUNK, count)):
            c, p, ids = rows_for(org, first_id + i, Person.number(i))
            customers.append(c)
            profiles.extend(p)
            identifiers.extend(ids)
        yield customers, profiles, identifiers


# -- the organisation --------------------------------------------------------------------------


async def _create_org(db: Database, clock: Clock) -> Org:
    services = Services.build(Settings(), db, clock)
    creds = await services.tenancy.create_org(ORG_NAME, fixed=CREDENTIALS)
    till_id = await services.tenancy.till_id(creds.org_id, creds.till_code)
    return Org(creds.org_id, creds.site_id, till_id)


# -- proof that the bulk rows are the service's rows --------------------------------------------


SAMPLE = (0, 1, 2, 777, 54_321)


@asynccontextmanager
async def scratch(clock: FixedClock) -> AsyncIterator[tuple[Database, Org, Services]]:
    """A throw-away SQLite database with the bench organisation, for proving bulk rows against
    the services that write them."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/check.db"
        await asyncio.to_thread(migrate, url)
        db = await open_database(url)
        try:
            org = await _create_org(db, clock)
            yield db, org, Services.build(Settings(), db, clock)
        finally:
            await db.close()


async def check_against_service(sample: tuple[int, ...] = SAMPLE) -> None:
    """Register the sample through `Customers.register` (store, then the WeChat join) in a scratch
    SQLite database and compare every stored row with what `rows_for` generates."""
    clock = FixedClock(CREATED_FROM_MS)
    async with scratch(clock) as (db, org, services):
        for n, i in enumerate(sample):
            p = Person.number(i)
            customer_id = 2_000_000_000 + n
            await services.customers.register(
                org.org_id, p.registration(), Provenance(org.till_id, p.created_ms),
                customer_id=customer_id)
            joined = await services.customers.register(
                org.org_id, p.wechat_join(), Provenance(org.till_id, p.joined_ms))
            assert joined.customer_id == customer_id and not joined.created, joined
            want_c, want_p, want_i = rows_for(org, customer_id, p)
            _same(db, "customers", CUSTOMER_COLUMNS, "id", customer_id, [want_c])
            _same(db, "profiles", PROFILE_COLUMNS, "customer_id", customer_id, want_p)
            _same(db, "identifiers", IDENTIFIER_COLUMNS, "customer_id", customer_id, want_i)


def _same(db: Any, table: str, columns: tuple[str, ...], key: str, value: int,
          want: list[tuple]) -> None:
    raw: sqlite3.Connection = db._conn  # the read connection of the SQLite Database
    got = raw.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {key} = ?",
                      (value,)).fetchall()
    got_set = sorted((tuple(r) for r in got), key=repr)
    want_set = sorted(want, key=repr)
    if got_set != want_set:
        diff = [(c, g, w) for gr, wr in zip(got_set, want_set, strict=False)
                for c, g, w in zip(columns, gr, wr, strict=True) if g != w]
        raise AssertionError(f"generated {table} rows differ from the service's: {diff or got}")


# -- manifests ---------------------------------------------------------------------------------


@dataclass
class Manifest:
    engine: str
    customers: int
    generator_version: int
    schema_revision: str
    database_url: str
    org_id: int
    site_id: int
    till_id: int
    first_id: int
    till_code: str
    till_password: str
    seconds: float

    @property
    def path(self) -> Path:
        return manifest_path(self.engine)

    def write(self) -> None:
        self.path.write_text(json.dumps(asdict(self), indent=2) + "\n")


def manifest_path(engine: str) -> Path:
    return DATA_DIR / f"{engine}.json"


def schema_head() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    return str(head)


def _read_manifest(engine: str) -> Manifest | None:
    try:
        return Manifest(**json.loads(manifest_path(engine).read_text()))
    except (OSError, ValueError, TypeError):
        return None


def sqlite_url() -> str:
    return f"sqlite:///{DATA_DIR / 'sqlite' / 'patron.db'}"


def sqlite_path(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


def pg_url() -> str:
    return PG_ADMIN_URL.rpartition("/")[0] + "/" + PG_DATABASE


async def _pg_count(url: str, org_id: int) -> int:
    import asyncpg

    try:
        conn = await asyncpg.connect(url)
    except Exception:  # noqa: BLE001 - a missing database means "not generated"
        return -1
    try:
        return int(await conn.fetchval("SELECT count(*) FROM customers WHERE org_id = $1",
                                       org_id))
    except Exception:  # noqa: BLE001
        return -1
    finally:
        await conn.close()


async def usable(engine: str, count: int) -> Manifest | None:
    """The manifest of data already generated for this engine and count, if it is intact."""
    m = _read_manifest(engine)
    if (m is None or m.customers != count or m.generator_version != GENERATOR_VERSION
            or m.schema_revision != schema_head()):
        return None
    if engine == "sqlite":
        return m if sqlite_path(m.database_url).exists() else None
    return m if await _pg_count(m.database_url, m.org_id) == count else None


# -- loading -----------------------------------------------------------------------------------


def _log(message: str) -> None:
    print(f"[generate] {message}", flush=True)


def _progress(done: int, count: int, started: float) -> None:
    if done % 200_000 == 0 or done == count:
        rate = done / max(time.perf_counter() - started, 1e-9)
        _log(f"{done:,}/{count:,} customers ({rate:,.0f}/s)")


async def _generate_sqlite(count: int) -> Manifest:
    url = sqlite_url()
    directory = DATA_DIR / "sqlite"
    shutil.rmtree(directory, ignore_errors=True)
    manifest_path("sqlite").unlink(missing_ok=True)
    started = time.perf_counter()
    await asyncio.to_thread(migrate, url)
    db = await open_database(url, sqlite_synchronous="OFF")
    try:
        org = await _create_org(db, Clock())
    finally:
        await db.close()

    conn = sqlite3.connect(directory / "patron.db", isolation_level=None)
    try:
        # Generated data can be regenerated, so the load skips the journal and fsyncs; the file
        # is switched back to WAL (what Patron runs with) before anyone reads it.
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-1048576")
        first_id = conn.execute(
            "UPDATE id_counters SET next_value = next_value + ? WHERE name = 'patron_ids' "
            "RETURNING next_value - ?", (count, count)).fetchone()[0]
        inserts = {
            table: f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                   f"({', '.join('?' * len(cols))})"
            for table, cols in (("customers", CUSTOMER_COLUMNS), ("profiles", PROFILE_COLUMNS),
                                ("identifiers", IDENTIFIER_COLUMNS))}
        done = 0
        conn.execute("BEGIN")
        for customers, profiles, identifiers in chunks(org, first_id, count):
            conn.executemany(inserts["customers"], customers)
            conn.executemany(inserts["profiles"], profiles)
            conn.executemany(inserts["identifiers"], identifiers)
            done += len(customers)
            if done % 250_000 == 0:
                conn.execute("COMMIT")
                conn.execute("BEGIN")
            _progress(done, count, started)
        conn.execute("COMMIT")
        _log("ANALYZE")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()
    manifest = Manifest("sqlite", count, GENERATOR_VERSION, schema_head(), url, org.org_id,
                        org.site_id, org.till_id, first_id, CREDENTIALS["till_code"],
                        CREDENTIALS["till_password"], round(time.perf_counter() - started, 1))
    manifest.write()
    return manifest


async def _generate_postgresql(count: int) -> Manifest:
    import asyncpg

    manifest_path("postgresql").unlink(missing_ok=True)
    started = time.perf_counter()
    admin = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    finally:
        await admin.close()
    url = pg_url()
    await asyncio.to_thread(migrate, url)
    db = await open_database(url, pg_pool_min=1, pg_pool_max=2)
    try:
        org = await _create_org(db, Clock())
    finally:
        await db.close()

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        first_id = int(await conn.fetchval("SELECT nextval('patron_ids')"))
        await conn.execute("SELECT setval('patron_ids', $1)", first_id + count - 1)
        done = 0
        for customers, profiles, identifiers in chunks(org, first_id, count):
            await conn.copy_records_to_table("customers", records=customers,
                                             columns=list(CUSTOMER_COLUMNS))
            await conn.copy_records_to_table("profiles", records=profiles,
                                             columns=list(PROFILE_COLUMNS))
            await conn.copy_records_to_table("identifiers", records=identifiers,
                                             columns=list(IDENTIFIER_COLUMNS))
            done += len(customers)
            _progress(done, count, started)
        _log("VACUUM ANALYZE")
        await conn.execute("VACUUM (ANALYZE) customers, profiles, identifiers, tills")
    finally:
        await conn.close()
    manifest = Manifest("postgresql", count, GENERATOR_VERSION, schema_head(), url, org.org_id,
                        org.site_id, org.till_id, first_id, CREDENTIALS["till_code"],
                        CREDENTIALS["till_password"], round(time.perf_counter() - started, 1))
    manifest.write()
    return manifest


async def ensure(engine: str, count: int, *, force: bool = False) -> Manifest:
    """The bench data for `engine` with `count` customers: reused if intact, else generated."""
    if engine not in ("sqlite", "postgresql"):
        raise ValueError(f"unknown engine {engine!r}")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    if not force:
        found = await usable(engine, count)
        if found is not None:
            _log(f"{engine}: reusing {count:,} customers ({found.database_url})")
            return found
    _log("checking generated rows against Customers.register")
    await check_against_service()
    _log(f"{engine}: generating {count:,} customers")
    if engine == "sqlite":
        manifest = await _generate_sqlite(count)
    else:
        manifest = await _generate_postgresql(count)
    _log(f"{engine}: {count:,} customers in {manifest.seconds:.0f} s "
         f"(ids {manifest.first_id}..{manifest.first_id + count - 1})")
    return manifest


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--force", action="store_true", help="regenerate even if reusable")
    args = parser.parse_args(argv)
    for engine in args.engines.split(","):
        asyncio.run(ensure(engine.strip(), args.customers, force=args.force))


if __name__ == "__main__":
    main()
