"""`patron import` / `patron export`: JSON Lines and CSV, per-line error reports, idempotent
re-runs, a round trip into another organisation, and the CLI end to end."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson

from patron.engagement.transfer import RecordWriter, export_records, import_records
from patron.services import Services
from patron.tenancy.service import OrgCredentials
from tests.conftest import till_auth

LINES = [
    {"kind": "customer", "firstName": "Ida", "lastName": "Lund", "email": "ida@example.com",
     "mobile": "+46 70 123 45 67", "externalId": "CRM-1", "extendedFields": {"city": "Lund"}},
    {"kind": "message", "id": "m-1", "customer": {"identifierName": "externalId",
                                                  "identifierValue": "CRM-1"},
     "channel": "email", "subject": "Hej", "receiver": "ida@example.com",
     "sentAt": "2025-11-02T10:00:00.250Z", "campaignId": "c-7"},
    {"kind": "delivery", "message": "m-1", "event": "opened", "at": "2025-11-02T11:00:00Z"},
    {"kind": "subscription", "customer": {"identifierName": "email",
                                          "identifierValue": "ida@example.com"},
     "channel": "MOBILE", "priority": "BULK", "type": "OPTOUT", "at": 1762077600000},
    {"kind": "email_subscription", "customer": {"identifierName": "externalId",
                                                "identifierValue": "CRM-1"},
     "action": "subscribed", "at": "2025-10-01T00:00:00Z"},
    {"kind": "tag", "customer": {"identifierName": "externalId", "identifierValue": "CRM-1"},
     "ref": "vip", "at": "2025-10-02T00:00:00Z"},
    {"kind": "message", "customer": {"identifierName": "externalId", "identifierValue": "NOPE"},
     "channel": "sms", "sentAt": "2025-11-02T10:00:00Z"},
]


def _jsonl(records: list[dict[str, Any]]) -> str:
    return "".join(orjson.dumps(r).decode() + "\n" for r in records)


async def test_import_reports_errors_and_reruns_idempotently(services: Services,
                                                             org: OrgCredentials) -> None:
    text = _jsonl(LINES) + "{not json\n"
    report = io.StringIO()
    summary = await import_records(services.engagement, org.org_id, io.StringIO(text), "jsonl",
                                   report, batch_size=3)
    assert summary.lines == 8
    assert summary.counts == {"created": 3, "updated": 0, "applied": 3, "duplicate": 0,
                              "failed": 2}
    errors = [json.loads(line) for line in report.getvalue().splitlines()]
    assert [(e["line"], e["error"]["code"]) for e in errors] == [
        (7, "customer_not_found"), (8, "invalid_json")]
    again = await import_records(services.engagement, org.org_id, io.StringIO(text), "jsonl",
                                 io.StringIO(), batch_size=1000)
    assert again.counts == {"created": 0, "updated": 1, "applied": 3, "duplicate": 2,
                            "failed": 2}


async def test_export_imports_into_another_org(client: httpx.AsyncClient, services: Services,
                                               org: OrgCredentials,
                                               other_org: OrgCredentials) -> None:
    await import_records(services.engagement, org.org_id, io.StringIO(_jsonl(LINES[:6])),
                         "jsonl", io.StringIO())
    for fmt in ("jsonl", "csv"):
        out = io.StringIO()
        writer = RecordWriter(out, fmt)
        async for record in export_records(services.db, org.org_id):
            writer.write(record)
        target = other_org if fmt == "jsonl" else await services.tenancy.create_org("csv")
        summary = await import_records(services.engagement, target.org_id,
                                       io.StringIO(out.getvalue()), fmt, io.StringIO())
        assert summary.counts["failed"] == 0, fmt
        # customer, message, delivery, subscription, e-mail subscription, tag
        assert summary.lines == 6
        r = await client.get("/v1.1/customer/interaction?external_id=CRM-1&type=email",
                             headers=till_auth(target))
        customer = r.json()["response"]["customer"]
        (email,) = customer["interactions"]["network"][0]["interaction"]
        (message,) = email["messages"]["message"]
        assert message["status"] == "OPENED" and message["subject"] == "Hej", fmt
        assert message["sent_time"] == "2025-11-02 10:00:00" and customer["mobile"] == \
            "46701234567"


def test_cli_import_and_export(tmp_path: Path) -> None:
    env = {**os.environ, "PATRON_DATA_DIR": str(tmp_path / "data")}
    env.pop("PATRON_DATABASE_URL", None)
    exe = str(Path(sys.executable).parent / "patron")
    creds = json.loads(subprocess.run([exe, "org", "create", "--name", "imp", "--json"], env=env,
                                      capture_output=True, text=True, check=True).stdout)
    org = str(creds["org_id"])
    source = tmp_path / "records.csv"
    source.write_text(
        "kind,id,customer.identifierName,customer.identifierValue,firstName,email,channel,"
        "sentAt,subject,extendedFields.city\n"
        "customer,,,,Ola,ola@example.com,,,,Oslo\n"
        "message,m1,email,ola@example.com,,,email,2025-11-02T10:00:00Z,Hei,\n"
        "message,m2,email,ola@example.com,,,fax,2025-11-02T10:00:00Z,Hei,\n")
    run = subprocess.run([exe, "import", str(source), "--org", org], env=env,
                         capture_output=True, text=True)
    assert run.returncode == 1, run.stderr
    assert "3 records" in run.stderr and "1 failed" in run.stderr
    report = [json.loads(x) for x in (tmp_path / "records.csv.errors.jsonl").read_text()
              .splitlines()]
    assert report[0]["line"] == 4 and report[0]["error"]["field"] == "message.channel"
    out = tmp_path / "out.jsonl"
    subprocess.run([exe, "export", str(out), "--org", org], env=env, check=True,
                   capture_output=True)
    kinds = [json.loads(x)["kind"] for x in out.read_text().splitlines()]
    assert kinds == ["customer", "message"]
