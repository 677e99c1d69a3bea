"""`patron`: serve, migrate, demo, import, export, organisations, keys and tills."""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from patron.config import LEAST_WORKERS, PORTS, SettingError, Settings
from patron.db.database import described, open_database, unavailable
from patron.db.migrate import DatabaseUnreachable
from patron.db.migrate import migrate as run_migrations
from patron.errors import PatronError
from patron.jsonio import dumps_text
from patron.services import Services

app = typer.Typer(help="Patron: a self-hosted customer data platform.", no_args_is_help=True)
org_app = typer.Typer(help="Organisations.", no_args_is_help=True)
keys_app = typer.Typer(help="API credentials: create, list, revoke, rotate.", no_args_is_help=True)
tills_app = typer.Typer(help="Tills and stores (Capillary Basic-auth logins).",
                        no_args_is_help=True)
loyalty_app = typer.Typer(help="Loyalty programs and the engine's scheduled work.",
                          no_args_is_help=True)
segments_app = typer.Typer(help="Segments: put customers into partitions from files.",
                           no_args_is_help=True)
app.add_typer(org_app, name="org")
app.add_typer(loyalty_app, name="loyalty")
app.add_typer(keys_app, name="keys")
app.add_typer(tills_app, name="tills")
app.add_typer(segments_app, name="segments")
T = TypeVar("T")

# Wide enough for any line or table Patron prints, so that none is wrapped or cut.
UNWRAPPED_WIDTH = 10_000


def _console(stderr: bool = False) -> Console:
    """Where the CLI writes (stderr: messages; stdout: tables): wrapped to a terminal's width,
    or, into a file or pipe, neither wrapped nor cut, where rich would break lines and table
    cells at 80 columns and split secrets and JSON."""
    out = Console(stderr=stderr)
    if not out.is_terminal:
        out.soft_wrap = True
        out.width = UNWRAPPED_WIDTH
    return out


console = _console(stderr=True)

# The flags are held to the rules of the settings they override (config.py).
Host = Annotated[str | None, typer.Option(help="Interface to bind (PATRON_HOST).")]
Port = Annotated[int | None, typer.Option(help="Port to listen on (PATRON_PORT).",
                                          min=PORTS[0], max=PORTS[1])]
Workers = Annotated[int | None, typer.Option(help="Server worker processes (PATRON_WORKERS).",
                                             min=LEAST_WORKERS)]
OrgId = Annotated[int, typer.Option("--org", help="Organisation id.")]


def _with_services(fn: Callable[[Services], Awaitable[T]], *, flush_commits: bool = True) -> T:
    """`fn` run with the services over the configured database, its schema brought up to date
    first; a domain error ends the command with exit status 2."""
    settings = Settings.from_env()
    run_migrations(settings.effective_database_url)

    async def go() -> T:
        db = await open_database(settings.effective_database_url,
                                 sqlite_synchronous=settings.sqlite_synchronous,
                                 flush_commits=flush_commits)
        try:
            return await fn(Services.build(settings, db))
        finally:
            await db.close()

    try:
        return asyncio.run(go())
    except PatronError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None


def _file_format(path: Path, given: str | None) -> str:
    """The import/export format of `path` (or the one given); an unknown one is a usage error
    (exit status 2) that names the formats."""
    from patron.engagement.transfer import file_format

    try:
        return file_format(path, given)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--format") from None


def _utf8_or_exit(path: Path) -> None:
    """Ends the command (exit status 2, nothing applied) unless the file is UTF-8 text: read
    once ahead, a megabyte at a time, so that a row past the first bad byte is never half the
    load."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(1 << 20)
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                console.print(f"[red]error:[/red] {path} is not UTF-8 text (byte "
                              f"{offset + exc.start}): save it as UTF-8; nothing applied",
                              soft_wrap=True)
                raise typer.Exit(2) from None
            if not chunk:
                return
            offset += len(chunk)


def _writable(path: Path, name: str) -> None:
    """A file the command will write: its directory must exist (a usage error, exit status 2,
    rather than a traceback half-way)."""
    if not path.parent.is_dir():
        raise typer.BadParameter(f"no directory {str(path.parent)!r} to write {path.name} in",
                                 param_hint=name)


def _migrate() -> None:
    run_migrations(Settings.from_env().effective_database_url)


def _serve(host: str | None, port: int | None, workers: int | None) -> None:
    import uvicorn

    # Flags become environment so that every worker process builds the same Settings.
    for name, value in (("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"PATRON_{name}"] = str(value)
    settings = Settings.from_env()
    console.print(f"Patron on http://{settings.host}:{settings.port} "
                  f"({'PostgreSQL' if settings.is_postgres else 'SQLite'}, "
                  f"{settings.workers} worker(s))")
    uvicorn.run("patron.cli:served_app", factory=True, host=settings.host, port=settings.port,
                workers=settings.workers, access_log=False, log_level=settings.log_level,
                proxy_headers=True)


def served_app() -> Any:
    """The app `patron serve` runs, made in each worker process: Patron's log lines (the access
    log among them) go to stderr there, which a logging set-up in the parent does not reach."""
    from uvicorn.config import LOG_LEVELS

    from patron.app import create_app

    settings = Settings.from_env()
    # By uvicorn's numbers: its `trace` is no name the logging module knows.
    logging.basicConfig(level=LOG_LEVELS[settings.log_level], format="%(message)s",
                        stream=sys.stderr)
    return create_app(settings)


@app.command()
def serve(host: Host = None, port: Port = None, workers: Workers = None) -> None:
    """Migrate the schema if needed, then serve the three API faces."""
    _migrate()
    _serve(host, port, workers)


@loyalty_app.command("apply")
def loyalty_apply(
    path: Annotated[Path, typer.Argument(help="Program file (YAML).", exists=True,
                                         dir_okay=False)],
    org: OrgId,
    check: Annotated[bool, typer.Option("--check", help="Validate only; apply nothing.")] = False,
) -> None:
    """Validate a program file whole, then add or change its programs."""
    from patron.loyalty.programs import ProgramFileError, read_program_file

    try:
        programs = read_program_file(path.read_text(encoding="utf-8"))
    except ProgramFileError as exc:
        console.print(f"[red]{path}: {exc}[/red] (nothing applied)", soft_wrap=True)
        raise typer.Exit(1) from None
    if check:
        console.print(f"{path}: {len(programs.programs)} program(s), valid")
        return

    async def run(svc: Services) -> Any:
        await svc.tenancy.org(org)
        return await svc.loyalty.apply_programs(org, programs)

    for entry in _with_services(run):
        tiers = ", ".join(t.name for t in entry.program.tiers)
        console.print(f"program {entry.id} {entry.program.name!r} v{entry.version}"
                      f"{' (default)' if entry.is_default else ''}: {tiers}", soft_wrap=True)


@loyalty_app.command("run")
def loyalty_run(
    org: Annotated[int | None, typer.Option("--org", help="Organisation id (default: all).")]
    = None,
) -> None:
    """Expire the points due, renew or downgrade the tiers that expired, expire the cards due
    (idempotent)."""

    async def run(svc: Services) -> Any:
        if org is not None:
            await svc.tenancy.org(org)  # an unknown one is an error, not "nothing to do"
        orgs = [org] if org is not None else [o["id"] for o in await svc.tenancy.orgs()]
        return [(o, *await svc.run_jobs(o)) for o in orgs]

    for org_id, report, cards in _with_services(run):
        console.print(f"org {org_id}: {report.expired_points / 1000:g} points expired from "
                      f"{report.expired_lots} lot(s); {report.renewed} tier(s) renewed, "
                      f"{report.downgraded} downgraded; {cards} card(s) expired")


SHOWN_FAILURES = 20


@segments_app.command("load")
def segments_load(
    path: Annotated[Path, typer.Argument(help="CSV file: a header `user_id|mobile|email|"
                                         "external_id,value`, then one customer per line.",
                                         exists=True, dir_okay=False)],
    org: OrgId,
    segment: Annotated[str, typer.Option("--segment", help="Segment name.")],
) -> None:
    """Assign customers to the segment's partitions, as Capillary's segment upload does. Each
    row applies on its own; failed rows are listed by line and make the exit status 1."""

    _utf8_or_exit(path)

    async def run(svc: Services) -> Any:
        await svc.tenancy.org(org)
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return await svc.segments.load(org, segment, handle)

    report = _with_services(run)
    for line, message in report.failures[:SHOWN_FAILURES]:
        console.print(f"line {line}: {message}", soft_wrap=True, markup=False)
    if report.failed > SHOWN_FAILURES:
        console.print(f"… and {report.failed - SHOWN_FAILURES} more failed rows")
    counts = ", ".join(f"{p}: {n}" for p, n in report.segment.members.items())
    console.print(f"segment {report.segment.name!r}: {report.rows} rows, {report.assigned} "
                  f"assigned, {report.failed} failed; members now {counts}", soft_wrap=True,
                  markup=False)
    if report.failed:
        raise typer.Exit(1)


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (idempotent; SQLite and PostgreSQL)."""
    _migrate()
    console.print("schema is up to date")


FileFormat = Annotated[str | None, typer.Option(
    "--format", help="jsonl or csv (default: from the file name).")]


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="JSON Lines or CSV file of records.",
                                         exists=True, dir_okay=False)],
    org: OrgId,
    fmt: FileFormat = None,
    report: Annotated[Path | None, typer.Option(
        help="Where per-record errors go (JSON Lines; default FILE.errors.jsonl).")] = None,
) -> None:
    """Import customers and engagement records; safe to re-run (records apply once)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from patron.engagement.transfer import import_records, open_records

    fmt = _file_format(path, fmt)
    report = report or path.with_name(path.name + ".errors.jsonl")
    _writable(report, "--report")
    size = path.stat().st_size

    async def run(svc: Services) -> Any:
        # Before the report is opened: an unknown organisation leaves no report behind.
        await svc.tenancy.org(org)
        with (open_records(path) as handle,
              report.open("w", encoding="utf-8") as errors,
              Progress(TextColumn("importing"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                       TimeRemainingColumn(), console=console) as bar):
            task = bar.add_task("import", total=size or 1)
            return await import_records(
                svc.engagement, org, handle, fmt, errors,
                # The file's read position (read ahead of the parsed lines by one buffer).
                progress=lambda: bar.update(task, completed=os.lseek(handle.fileno(), 0,
                                                                     os.SEEK_CUR)))

    started = time.monotonic()
    # Records apply once, so after an OS crash a re-run restores whatever the last commits lost;
    # not flushing each batch's commit made the import 15% faster (docs/performance.md).
    summary = _with_services(run, flush_commits=False)
    seconds = time.monotonic() - started
    counts = summary.counts
    console.print(f"{summary.lines} records in {seconds:.1f} s "
                  f"({summary.lines / max(seconds, 1e-9):,.0f}/s): " +
                  ", ".join(f"{n} {k}" for k, n in counts.items()), soft_wrap=True)
    if counts["failed"]:
        console.print(f"errors written to {report}", soft_wrap=True)
        raise typer.Exit(1)
    report.unlink(missing_ok=True)


@app.command("export")
def export(
    path: Annotated[Path, typer.Argument(help="File to write (JSON Lines or CSV).",
                                         dir_okay=False)],
    org: OrgId,
    fmt: FileFormat = None,
) -> None:
    """Export customers and engagement records in the format `patron import` reads."""
    from patron.engagement.transfer import RecordWriter, export_records

    fmt = _file_format(path, fmt)
    _writable(path, "path")

    async def run(svc: Services) -> int:
        await svc.tenancy.org(org)
        count = 0
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = RecordWriter(handle, fmt)
            async for record in export_records(svc.db, org):
                writer.write(record)
                count += 1
        return count

    console.print(f"{_with_services(run)} records written to {path}")


@app.command()
def demo(host: Host = None, port: Port = None, workers: Workers = None) -> None:
    """Load the demo organisation if it is absent, then serve."""
    from patron.demo import DEMO_CREDENTIALS, load_demo

    console.print("loading the demo organisation (first run takes a little while)…")
    created = _with_services(load_demo)
    console.print("demo organisation " + ("created" if created else "already present") +
                  f"; credentials: {dumps_text(DEMO_CREDENTIALS)}", markup=False)
    _serve(host, port, workers)


@org_app.command("create")
def org_create(name: Annotated[str, typer.Option(help="Organisation name.")],
               json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """A new organisation with fresh credentials for all three faces, printed once."""
    creds = _with_services(lambda svc: svc.tenancy.create_org(name))
    if json:
        print(dumps_text(creds.as_dict()))
        return
    table = Table(title=f"Organisation {creds.org_id}: shown once, store them now")
    table.add_column("what")
    table.add_column("value")
    for key, value in creds.as_dict().items():
        table.add_row(key, str(value))
    _console().print(table)


@org_app.command("configure")
def org_configure(
    org: OrgId,
    otp_masking: Annotated[bool | None, typer.Option(
        "--otp-masking/--no-otp-masking", help="Mask OTP digits in interaction reads.")] = None,
    time_zone: Annotated[str | None, typer.Option(help="IANA time zone, e.g. Asia/Kolkata.")
                         ] = None,
) -> None:
    """Change an organisation's settings."""
    found = _with_services(lambda svc: svc.tenancy.configure(org, otp_masking=otp_masking,
                                                             time_zone=time_zone))
    print(dumps_text({"id": found["id"], "timeZone": found["time_zone"],
                      "settings": found["settings"]}))


@keys_app.command("create")
def keys_create(
    org: OrgId,
    kind: Annotated[str, typer.Option(help="workspace_key | loyalty_client | marketing_client")],
    name: Annotated[str, typer.Option(help="A label.")] = "",
    login: Annotated[str | None, typer.Option(help="Client key / client id (generated if "
                                                   "absent).")] = None,
    scopes: Annotated[str | None, typer.Option(
        help="Space-separated scopes, each one of the kind's face (docs/configuration.md); "
             "all of them if absent.")] = None,
    test: Annotated[bool, typer.Option("--test", help="lw_test_ key instead of lw_live_.")] = False,
) -> None:
    """Create a credential; its secret is printed once and stored only hashed."""
    from patron.db.ids import next_id

    if kind == "till":
        # A till login names a till (its code): the till and its login are made together.
        console.print("[red]error:[/red] a till and its login are made with `patron tills "
                      "create --org ORG --code CODE`, not `keys create --kind till`")
        raise typer.Exit(2)

    async def go(svc: Services) -> Any:
        await svc.tenancy.org(org)
        async with svc.db.transaction() as tx:
            login_value = login
            if kind != "workspace_key" and not login_value:
                login_value = f"{kind.split('_')[0]}_{org}_{await next_id(tx)}"
            return await svc.auth.create_credential(tx, org, kind, name=name, login=login_value,
                                                    scopes=scopes, test_mode=test)

    issued = _with_services(go)
    print(dumps_text({"id": issued.id, "kind": issued.kind, "login": issued.login,
                      "secret": issued.secret}))


@keys_app.command("list")
def keys_list(org: OrgId) -> None:
    """Credentials of an organisation (never their secrets)."""
    async def run(svc: Services) -> Any:
        await svc.tenancy.org(org)  # an unknown organisation is an error, not an empty table
        return await svc.auth.list_credentials(org)

    rows = _with_services(run)
    table = Table()
    for col in ("id", "kind", "name", "hint", "scopes", "revoked"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), r["kind"], r["name"], r["hint"], r["scopes"],
                      "yes" if r["revoked_at"] else "")
    _console().print(table)


@keys_app.command("revoke")
def keys_revoke(org: OrgId, id: Annotated[int, typer.Option(help="Credential id.")]) -> None:
    """Revoke a credential and every token issued for it."""
    _with_services(lambda svc: svc.auth.revoke_credential(org, id))
    console.print(f"credential {id} revoked")


@keys_app.command("rotate")
def keys_rotate(org: OrgId, id: Annotated[int, typer.Option(help="Credential id.")]) -> None:
    """A new secret for a credential; the old one and its tokens stop working."""
    issued = _with_services(lambda svc: svc.auth.rotate_credential(org, id))
    print(dumps_text({"id": issued.id, "kind": issued.kind, "login": issued.login,
                      "secret": issued.secret}))


@tills_app.command("create")
def tills_create(
    org: OrgId,
    code: Annotated[str, typer.Option(help="Till code (the Basic-auth user name).")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    type: Annotated[str, typer.Option(help="TILL or STORE.")] = "TILL",
    password: Annotated[str | None, typer.Option(help="Till password (generated if "
                                                      "absent).")] = None,
) -> None:
    """A till with a Basic-auth login; the password is printed once."""

    async def go(svc: Services) -> Any:
        await svc.tenancy.org(org)
        async with svc.db.transaction() as tx:
            till_id = await svc.tenancy.add_till(org, code, name, type, conn=tx)
            return await svc.auth.create_credential(tx, org, "till", name=f"till {code}",
                                                    login=code, secret=password, till_id=till_id)

    issued = _with_services(go)
    print(dumps_text({"credential_id": issued.id, "till": issued.login,
                      "password": issued.secret}))


@tills_app.command("list")
def tills_list(org: OrgId) -> None:
    """Tills and stores of an organisation."""
    async def run(svc: Services) -> Any:
        await svc.tenancy.org(org)  # an unknown organisation is an error, not an empty table
        return await svc.tenancy.tills(org)

    rows = _with_services(run)
    table = Table()
    for col in ("id", "code", "name", "type"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), r["code"], r["name"], r["type"])
    _console().print(table)


def main() -> None:
    try:
        app()
    except SettingError as exc:
        console.print(f"[red]error:[/red] {exc}", soft_wrap=True)
        raise SystemExit(2) from None
    except DatabaseUnreachable as exc:
        console.print(f"[red]error:[/red] cannot open the database: {escape(str(exc))}",
                      soft_wrap=True)
        raise SystemExit(2) from None
    except Exception as exc:
        # Down, unreachable or locked once the command had begun (db.database.unavailable):
        # said in one line, not a traceback; what the command committed before stands.
        if not unavailable(exc):
            raise
        console.print("[red]error:[/red] the database is unavailable; try again: "
                      f"{escape(described(exc))}", soft_wrap=True)
        raise SystemExit(2) from None
