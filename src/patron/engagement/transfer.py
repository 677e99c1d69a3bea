"""`patron import` and `patron export`: engagement records (engagement.models) to and from JSON
Lines or CSV files, streamed in batches so that memory does not grow with the file.

Import hands each batch to `Engagement.ingest`, the same path as the native API: every record
applies whole or not at all, and records carry ids (their own, or a digest of their content), so
a re-run after a failure or a kill changes only what was missing. Errors go to a JSON Lines report,
one line per failed record with its line number.

CSV columns are the record's field names; nested fields use dots (`customer.identifierName`,
`extendedFields.city`); empty cells are absent fields.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from itertools import islice
from pathlib import Path
from typing import IO, Any

import orjson

from patron.clock import iso_utc
from patron.customers.models import Provenance
from patron.db.database import Database, while_committing
from patron.db.statement import sql
from patron.engagement.service import Checked, Engagement, Outcome, checked
from patron.errors import ValidationFailed
from patron.jsonio import NumberOutOfRange, whole_number

BATCH = 1000
# The longest CSV cell taken: the native API's body cap (PATRON_MAX_BODY_BYTES' default).
MAX_CSV_FIELD = 1 << 20
# Twenty digits in a row: the shortest text of a whole number beyond 64 bits (2**64). Spelt out
# rather than `\d{20}`, which took 1.8 us a line against 1.1 (of ~70 us a record).
_LONG_DIGITS = re.compile(r"\d" * 20, re.ASCII)
EXPORT_PAGE = 5000


@dataclass
class ImportSummary:
    lines: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {
        "created": 0, "updated": 0, "applied": 0, "duplicate": 0, "failed": 0})


def file_format(path: Path, given: str | None) -> str:
    fmt = (given or path.suffix.lstrip(".")).lower()
    if fmt in ("jsonl", "ndjson", "json"):
        return "jsonl"
    if fmt == "csv":
        return "csv"
    raise ValueError(f"unknown format {fmt!r}: use jsonl or csv")


def _nested(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None or value == "":
            continue
        target = out
        *parents, leaf = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = value
    return out


class _CountedLines:
    """The lines of a file, counting those read."""

    def __init__(self, handle: IO[str]) -> None:
        self._lines = iter(handle)
        self.count = 0

    def __iter__(self) -> _CountedLines:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.count += 1
        return line


def _check_header(columns: Sequence[str]) -> None:
    """A CSV header every record can be read by: no column twice (one would drop the other's
    cells), none both a value and a group of values (`customer` beside `customer.id`)."""
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise ValidationFailed(f"the CSV header names the column {column!r} twice")
        seen.add(column)
    for column in columns:
        parts = column.split(".")
        for end in range(1, len(parts)):
            if ".".join(parts[:end]) in seen:
                raise ValidationFailed(f"the CSV header has both {'.'.join(parts[:end])!r} "
                                       f"and {column!r}: a value cannot also hold values")


def open_records(path: Path) -> IO[str]:
    """A file of records to read: UTF-8, a byte-order mark (as spreadsheets write one) skipped,
    and bytes that are not UTF-8 kept as surrogates so that read_records fails their line
    alone instead of the whole run."""
    return path.open(encoding="utf-8-sig", errors="surrogateescape", newline="")


class NotUtf8(ValueError):
    code = "invalid_text"

    def __init__(self) -> None:
        super().__init__("not UTF-8 text")


def _not_utf8(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def read_records(handle: IO[str], fmt: str) -> Iterator[tuple[int, Any]]:
    """(line number, record) for every record; a line that is not JSON or not UTF-8 yields its
    error. A CSV record is numbered by the line it starts on."""
    if fmt == "csv":
        csv.field_size_limit(MAX_CSV_FIELD)
        lines = _CountedLines(handle)  # csv's own line_num misses the line of an error
        reader = csv.DictReader(lines)
        _check_header(reader.fieldnames or [])
        start = lines.count + 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:  # e.g. a cell over MAX_CSV_FIELD: this record alone fails
                yield start, ValueError(f"not CSV: {exc}")
            else:
                if any(_not_utf8(v) for v in (*row.keys(), *row.values())
                       if isinstance(v, str)):
                    yield start, NotUtf8()
                elif None in row:  # cells beyond the header's columns
                    yield start, ValueError(f"{len(row[None])} more cell(s) than the header "
                                            "has columns")
                else:
                    yield start, _nested(row)
            start = lines.count + 1
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        if _not_utf8(line):
            yield number, NotUtf8()
            continue
        try:
            record = orjson.loads(line)
            if _LONG_DIGITS.search(line):  # perhaps a whole number orjson read as a float
                json.loads(line, parse_int=whole_number)
            yield number, record
        except orjson.JSONDecodeError as exc:
            yield number, ValueError(f"not JSON: {exc}")
        except NumberOutOfRange as exc:
            yield number, exc


async def import_records(engagement: Engagement, org_id: int, handle: IO[str], fmt: str,
                         report: IO[str], progress: Callable[[], None] | None = None,
                         batch_size: int = BATCH) -> ImportSummary:
    """Each batch is stored while the next is read and checked: that work runs while the
    batch commits (while_committing), which on SQLite is written on another thread."""
    summary = ImportSummary()
    prov = Provenance(None, engagement.clock.now_ms())
    records = read_records(handle, fmt)

    def read_batch() -> tuple[list[tuple[int, Any]], Checked]:
        lines = list(islice(records, batch_size))
        summary.lines += len(lines)
        return lines, checked([r for _, r in lines if not isinstance(r, Exception)])

    def read_ahead(ahead: list[Any]) -> None:
        if not ahead:  # once, though the batch may commit more than one transaction
            try:
                ahead.append(read_batch())
            except BaseException as exc:  # noqa: BLE001 - raised after the batch's outcomes
                ahead.append(exc)

    lines, batch = read_batch()
    while lines:
        ahead: list[Any] = []
        with while_committing(partial(read_ahead, ahead)):
            outcomes = await engagement.store(org_id, batch, prov) if batch.outcomes else []
        _report(summary, lines, outcomes, report)
        if progress is not None:
            progress()
        read_ahead(ahead)
        if isinstance(ahead[0], BaseException):
            raise ahead[0]
        lines, batch = ahead[0]
    return summary


def _report(summary: ImportSummary, lines: list[tuple[int, Any]], outcomes: list[Outcome],
            report: IO[str]) -> None:
    """A stored batch's outcomes counted, and its failures written to the report in line
    order: lines that were not records, and records that failed."""
    failures: list[tuple[int, dict[str, Any]]] = []
    valid = []
    for n, r in lines:
        if isinstance(r, Exception):
            summary.counts["failed"] += 1
            code = getattr(r, "code", "invalid_json")
            failures.append((n, {"line": n, "error": {"code": code, "message": str(r)}}))
        else:
            valid.append(n)
    for n, outcome in zip(valid, outcomes, strict=True):
        summary.counts[outcome.status] += 1
        if outcome.error is not None:
            error: dict[str, Any] = {"code": outcome.error.reason,
                                     "message": outcome.error.message}
            if outcome.error.field:
                error["field"] = outcome.error.field
            failures.append((n, {"line": n, "kind": outcome.kind, "id": outcome.id,
                                 "error": error}))
    for _, failure in sorted(failures, key=lambda f: f[0]):
        report.write(orjson.dumps(failure).decode() + "\n")


# -- export -----------------------------------------------------------------------------------

# Records name their customer by a stable identifier, so an export imports into another store.
_WHO = "c.external_id AS c_external_id, c.email AS c_email, c.mobile AS c_mobile, c.id AS c_id"
EXPORT = {
    "customer": sql(
        "SELECT c.id, c.external_id, c.email, c.mobile, c.extended_fields, c.ndnc_status, "
        "c.optin_status, c.loyalty_type, p.first_name, p.last_name FROM customers c "
        "LEFT JOIN profiles p "
        "ON p.org_id = c.org_id AND p.customer_id = c.id AND p.source = 'INSTORE' "
        "AND p.account_id = '' "
        "WHERE c.org_id = $1 AND c.status = 'active' AND c.id > $2 ORDER BY c.id LIMIT $3"),
    "message": sql(
        f"SELECT m.*, {_WHO} FROM messages m JOIN customers c ON c.org_id = m.org_id "
        "AND c.id = m.customer_id WHERE m.org_id = $1 AND c.status = 'active' AND m.id > $2 "
        "ORDER BY m.id LIMIT $3"),
    # Keyed by more than one column: read after the last row's key.
    "delivery": sql(
        "SELECT e.message_id, e.kind, e.occurred_at, e.bounce_type, m.record_id "
        "FROM message_events e JOIN messages m ON m.org_id = e.org_id AND m.id = e.message_id "
        "JOIN customers c ON c.org_id = m.org_id AND c.id = m.customer_id "
        "WHERE e.org_id = $1 AND c.status = 'active' "
        "AND (e.message_id, e.kind, e.occurred_at) > ($2, $3, $4) "
        "ORDER BY e.message_id, e.kind, e.occurred_at LIMIT $5"),
    "subscription": sql(
        f"SELECT s.*, {_WHO} FROM subscriptions s JOIN customers c "
        "ON c.org_id = s.org_id AND c.id = s.customer_id WHERE s.org_id = $1 "
        "AND c.status = 'active' AND (s.customer_id, s.channel, s.priority) > ($2, $3, $4) "
        "ORDER BY s.customer_id, s.channel, s.priority LIMIT $5"),
    "email_subscription": sql(
        f"SELECT e.*, {_WHO} FROM customer_engagement e JOIN customers c "
        "ON c.org_id = e.org_id AND c.id = e.customer_id WHERE e.org_id = $1 "
        "AND c.status = 'active' AND e.customer_id > $2 ORDER BY e.customer_id LIMIT $3"),
    "fact": sql(
        f"SELECT f.*, {_WHO} FROM engagement_facts f JOIN customers c ON c.org_id = f.org_id "
        "AND c.id = f.customer_id WHERE f.org_id = $1 AND c.status = 'active' "
        "AND f.record_id > $2 "
        "ORDER BY f.record_id LIMIT $3"),
}
EMAIL_ACTIONS = ("subscribed", "unsubscribed", "manually_unsubscribed", "opted_out",
                 "suppressed", "unsuppressed")


def _who(row: Any) -> dict[str, Any]:
    for name, column in (("externalId", "c_external_id"), ("email", "c_email"),
                         ("mobile", "c_mobile")):
        if row[column]:
            return {"identifierName": name, "identifierValue": row[column]}
    return {"id": int(row["c_id"])}


def _compact(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if v is not None and v != "" and v != {}}


async def export_records(db: Database, org_id: int) -> AsyncIterator[dict[str, Any]]:
    """Every record of the organisation, customers first, then what refers to them."""
    after = 0
    while rows := await db.fetch(EXPORT["customer"], org_id, after, EXPORT_PAGE):
        for r in rows:
            yield _compact({"kind": "customer", "id": f"customer-{r['id']}",
                            "firstName": r["first_name"], "lastName": r["last_name"],
                            "mobile": r["mobile"], "email": r["email"],
                            "externalId": r["external_id"], "loyaltyType": r["loyalty_type"],
                            "extendedFields": orjson.loads(r["extended_fields"])})
            if r["ndnc_status"] != "NONE" or r["optin_status"] != "NONE":
                yield {"kind": "consent", "id": f"consent-{r['id']}",
                       "customer": _who({"c_external_id": r["external_id"],
                                         "c_email": r["email"], "c_mobile": r["mobile"],
                                         "c_id": r["id"]}),
                       "ndncStatus": r["ndnc_status"], "optinStatus": r["optin_status"]}
        after = int(rows[-1]["id"])
    after = 0
    while rows := await db.fetch(EXPORT["message"], org_id, after, EXPORT_PAGE):
        for r in rows:
            yield _compact({
                "kind": "message", "id": r["record_id"], "customer": _who(r),
                "channel": r["channel"], "direction": r["direction"], "network": r["network"],
                "priority": r["priority"], "sender": r["sender"], "receiver": r["receiver"],
                "subject": r["subject"], "body": r["body"], "campaignId": r["campaign_id"],
                "broadcastId": r["broadcast_id"], "newsletterId": r["newsletter_id"],
                "sequenceId": r["sequence_id"], "otp": bool(r["is_otp"]) or None,
                "sentAt": iso_utc_ms(r["sent_at"])})
        after = int(rows[-1]["id"])
    key: tuple[Any, ...] = (0, "", 0)
    while rows := await db.fetch(EXPORT["delivery"], org_id, *key, EXPORT_PAGE):
        for r in rows:
            yield _compact({"kind": "delivery", "message": r["record_id"], "event": r["kind"],
                            "bounceType": r["bounce_type"], "at": iso_utc_ms(r["occurred_at"])})
        key = (rows[-1]["message_id"], rows[-1]["kind"], rows[-1]["occurred_at"])
    key = (0, "", "")
    while rows := await db.fetch(EXPORT["subscription"], org_id, *key, EXPORT_PAGE):
        for r in rows:
            yield _compact({"kind": "subscription", "customer": _who(r),
                            "channel": r["channel"], "priority": r["priority"],
                            "type": r["status"], "source": r["source"],
                            "accountId": r["account_id"], "reason": r["reason"],
                            "at": iso_utc_ms(r["changed_at"])})
        key = (rows[-1]["customer_id"], rows[-1]["channel"], rows[-1]["priority"])
    after = 0
    while rows := await db.fetch(EXPORT["email_subscription"], org_id, after, EXPORT_PAGE):
        for r in rows:
            for action in EMAIL_ACTIONS:
                if r[f"{action}_at"] is not None:
                    yield {"kind": "email_subscription", "customer": _who(r), "action": action,
                           "at": iso_utc_ms(r[f"{action}_at"])}
        after = int(rows[-1]["customer_id"])
    last = ""
    while rows := await db.fetch(EXPORT["fact"], org_id, last, EXPORT_PAGE):
        for r in rows:
            yield _compact({"kind": r["kind"], "id": r["record_id"], "customer": _who(r),
                            "ref": r["ref_id"], "state": r["state"],
                            "at": iso_utc_ms(r["occurred_at"])})
        last = rows[-1]["record_id"]


def iso_utc_ms(ms: int) -> str:
    """An instant with its milliseconds, so that an export imports back to the same instant."""
    base = iso_utc(ms)
    assert base is not None
    return f"{base[:-1]}.{ms % 1000:03d}Z"


CSV_COLUMNS = (
    "kind", "id", "customer.id", "customer.identifierName", "customer.identifierValue",
    "source", "accountId", "firstName", "lastName", "mobile", "email", "externalId",
    "loyaltyType", "channel", "direction", "network", "priority", "sender", "receiver", "subject",
    "body", "campaignId",
    "broadcastId", "newsletterId", "sequenceId", "otp", "sentAt", "message", "messageId",
    "event", "bounceType", "type", "reason", "ndncStatus", "optinStatus", "action", "ref",
    "state", "at",
)


def _flat(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


class RecordWriter:
    """Writes records as JSON Lines, or as CSV with the fixed columns (`CSV_COLUMNS`). A CSV
    export leaves customers' extended fields out: their keys vary per customer and a CSV header
    comes first. JSON Lines holds everything."""

    def __init__(self, handle: IO[str], fmt: str) -> None:
        self.handle = handle
        self.fmt = fmt
        self._csv: csv.DictWriter | None = None

    def write(self, record: dict[str, Any]) -> None:
        if self.fmt == "jsonl":
            self.handle.write(orjson.dumps(record).decode() + "\n")
            return
        flat = _flat(record)
        if self._csv is None:
            self._csv = csv.DictWriter(self.handle, CSV_COLUMNS, extrasaction="ignore")
            self._csv.writeheader()
        self._csv.writerow({k: str(v).lower() if isinstance(v, bool) else v
                            for k, v in flat.items()})
