"""Customer and associated (card barcode) images: upload by id and by look-up, the embeds with
signed URLs that serve the bytes without credentials until they expire, replacement with
versions, validation, deletion, PII scrub and tenancy."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from patron.clock import FixedClock
from patron.db.statement import sql
from patron.services import Services
from tests.conftest import PNG, add_customer, till_auth, workspace_auth

JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 64


async def _customer(client: httpx.AsyncClient, h: dict[str, str], mobile: str) -> int:
    return await add_customer(client, h, identifiers=[{"type": "mobile", "value": mobile}])


async def _images(client: httpx.AsyncClient, h: dict[str, str], cid: int,
                  embed: str = "customerImage") -> list[dict[str, Any]]:
    r = await client.get(f"/v2/customers/{cid}?source=INSTORE&embed={embed}", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body["warnings"], body["warnings"]
    return body.get(embed.replace("CUSTOMERIMAGE", "customerImage"), [])


async def test_upload_embed_and_signed_url(client: httpx.AsyncClient, org: Any,
                                           clock: FixedClock) -> None:
    h = till_auth(org)
    cid = await _customer(client, h, "919900000031")
    r = await client.post(f"/v2/customers/{cid}/setImage", headers=h,
                          files={"file": ("me.png", PNG, "image/png")})
    assert r.status_code == 200, r.text
    item = r.json()["data"][0]
    assert item["code"] == 200 and item["status"] == "true"
    assert item["message"] == "Successfully uploaded file"
    assert item["file"]["namespace"] == "customerImage"
    assert item["file"]["name"] == f"{org.org_id}/{cid}/0"
    assert item["file"]["fileSize"] == str(len(PNG)) and item["file"]["version"] == 1

    [shown] = await _images(client, h, cid, "CUSTOMERIMAGE")
    assert shown["message"] == "Success" and shown["filePath"] == shown["secureFilePath"]
    url = urlsplit(shown["filePath"])
    got = await client.get(f"{url.path}?{url.query}")  # no credentials: the URL is the grant
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"
    tampered = url.query[:-1] + ("0" if url.query[-1] != "0" else "1")
    assert (await client.get(f"{url.path}?{tampered}")).status_code == 404
    clock.value += 3600 * 1000
    assert (await client.get(f"{url.path}?{url.query}")).status_code == 404

    # a new upload replaces position 0 with version 2
    r = await client.post(f"/v2/customers/{cid}/setImage", headers=h,
                          files={"file": ("me.jpg", JPEG, "image/jpeg")})
    assert r.json()["data"][0]["file"]["version"] == 2
    [shown] = await _images(client, h, cid)
    url = urlsplit(shown["filePath"])
    assert (await client.get(f"{url.path}?{url.query}")).content == JPEG

    # by look-up; not an image; nothing sent
    r = await client.post("/v2/customers/lookup/setImage?source=INSTORE&identifierName=mobile"
                          "&identifierValue=919900000031", headers=h,
                          files=[("file", ("a.png", PNG, "image/png")),
                                 ("file", ("b.png", PNG, "image/png"))])
    assert r.status_code == 200 and len(r.json()["data"]) == 2
    assert len(await _images(client, h, cid)) == 2
    r = await client.post(f"/v2/customers/{cid}/setImage", headers=h,
                          files={"file": ("x.txt", b"hello", "text/plain")})
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 8084
    r = await client.post(f"/v2/customers/{cid}/setImage", headers=h)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 8084
    assert len(await _images(client, h, cid)) == 2  # nothing lost

    r = await client.delete(f"/v2/customers/{cid}/deleteImage", headers=h)
    assert r.status_code == 200
    assert await _images(client, h, cid) == []


async def test_associated_images_of_a_card(client: httpx.AsyncClient, org: Any) -> None:
    h = till_auth(org)
    r = await client.post("/v2/card/series", headers=h, json={"code": "S1", "type": "PHYSICAL"})
    series_id = r.json()["entity"]
    cid = await add_customer(client, h, identifiers=[
        {"type": "mobile", "value": "919900000032"},
        {"type": "cardnumber", "value": "BAR0001", "seriesId": series_id}])
    r = await client.post(f"/v2/customers/{cid}/setImage?namespace=associatedImages"
                          "&cardNumber=BAR0001", headers=h,
                          files={"file": ("bar.png", PNG, "image/png")})
    assert r.status_code == 200, r.text
    [shown] = await _images(client, h, cid, "associatedImages")
    assert shown["file"]["namespace"] == "associatedImages" and shown["file"]["cardId"]
    assert await _images(client, h, cid) == []  # customerImage is a separate namespace


async def test_pii_deletion_removes_images(client: httpx.AsyncClient, org: Any,
                                           services: Services) -> None:
    h = till_auth(org)
    cid = await _customer(client, h, "919900000033")
    await client.post(f"/v2/customers/{cid}/setImage", headers=h,
                      files={"file": ("me.png", PNG, "image/png")})
    [shown] = await _images(client, h, cid)
    r = await client.delete(f"/api/customers/{cid}", headers=workspace_auth(org))
    assert r.status_code in (200, 204), r.text
    count = await services.db.fetchval(sql(
        "SELECT count(*) FROM customer_images WHERE org_id = $1 AND customer_id = $2"),
        org.org_id, cid)
    assert count == 0
    url = urlsplit(shown["filePath"])
    assert (await client.get(f"{url.path}?{url.query}")).status_code == 404


async def test_images_are_per_organisation(client: httpx.AsyncClient, org: Any,
                                           other_org: Any) -> None:
    h = till_auth(org)
    cid = await _customer(client, h, "919900000034")
    r = await client.post(f"/v2/customers/{cid}/setImage", headers=till_auth(other_org),
                          files={"file": ("me.png", PNG, "image/png")})
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 8015
    await client.post(f"/v2/customers/{cid}/setImage", headers=h,
                      files={"file": ("me.png", PNG, "image/png")})
    [shown] = await _images(client, h, cid)
    path = urlsplit(shown["filePath"])
    forged = path.path.replace(f"/{org.org_id}/", "/1/")
    assert (await client.get(f"{forged}?{path.query}")).status_code == 404
