"""The marketing face's answers checked against Kajabi's own OpenAPI document.

tests/reference/kajabi-openapi-v1.1.0.yaml is the vendor's document, unedited (its README says
where it comes from). `call` sends one realistic request to an implemented operation and checks
its answer against that operation in the document:

- the status is one the operation declares, or one listed in UNDECLARED (each a deliberate
  difference, in docs/compat/marketing.md's table, which a test here keeps equal to it);
- the Content-Type is the declared media type, exactly (no parameters);
- the body is valid against the declared schema under JSON Schema 2020-12 (the document is
  OpenAPI 3.1), with `format` asserted (`date-time`); a status the operation does not declare is
  checked against the error schema the vendor uses for its other operations;
- every resource in `data` and `included` carries only members, attributes and relationships
  that the vendor's schema of its type names. The vendor's schemas allow any other member; this
  check does not, so that Patron cannot answer a name the vendor does not know.

One reading goes beyond the bare document, NULLABLE: the document declares OpenAPI 3.1.1, whose
schemas are JSON Schema 2020-12, yet keeps OpenAPI 3.0's `nullable: true` on some properties
(`external_user_id`, `socials`, `sign_in_count`, `last_request_at`, `bounced_at`, an error's
`source`). 2020-12 ignores that keyword, so read strictly those properties may not be null,
while the same document's own examples answer null for them (`GET /v1/customers/{id}`:
`"socials": null`, `"last_request_at": null`, `"bounced_at": null`, an included contact's
`"external_user_id": null`), and its newer properties spell null out (`type: [string, 'null']`).
So a null is accepted exactly where the schema says `nullable: true`, and nowhere else; every
other error of the strict reading fails the test (test_the_vendors_own_example_needs_the_
nullable_reading shows the vendor's example breaking the strict reading, and
test_nullable_is_the_only_relaxation that the relaxation admits nothing else).

A sparse fieldset drops attributes; the vendor's schemas make no attribute required, so no
exception is needed for it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema_rs
import pytest
import yaml

from patron.auth import guard
from patron.auth.service import FAILED_SIGN_INS_PER_MINUTE
from patron.db.statement import sql
from patron.demo import DEMO_CREDENTIALS, load_demo
from patron.services import Services
from patron.tenancy.service import OrgCredentials
from tests.conftest import MovedTime, add_customer, marketing_auth, till_auth, workspace_auth
from tests.test_marketing_face import add_site

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = Path(__file__).parent / "reference" / "kajabi-openapi-v1.1.0.yaml"
JSONAPI = "application/vnd.api+json"
OAUTH = "application/json"

# Statuses Patron answers that the vendor's operation does not declare: (method, path) ->
# {status: why}. docs/compat/marketing.md lists the same, "Statuses the vendor's document does
# not declare".
UNDECLARED: dict[tuple[str, str], dict[int, str]] = {
    ("post", "/v1/oauth/token"): {
        429: "too many failed sign-ins of one client id within a minute"},
    ("post", "/v1/oauth/revoke"): {
        400: "no `token` in the body (RFC 6749 invalid_request)",
        429: "the rate limit"},
    ("get", "/v1/me"): {429: "the rate limit"},
    ("get", "/v1/sites"): {400: "a page, sort, sparse fieldset or filter that cannot be served",
                           429: "the rate limit"},
    ("get", "/v1/sites/{id}"): {400: "an unknown sparse field", 404: "no such site",
                                429: "the rate limit"},
    ("get", "/v1/customers"): {
        400: "a page, sort, sparse fieldset, include or filter that cannot be served, or no "
             "filter[site_id] when the organisation has several sites",
        404: "filter[site_id] names no site of the organisation",
        429: "the rate limit"},
    ("get", "/v1/customers/{id}"): {
        400: "an unknown sparse field, include or filter, or a show paging filter below 1",
        404: "no such customer, or filter[site_id] names another site",
        429: "the rate limit"},
}
# The error schema a status the operation does not declare is checked against: the OAuth
# routes' own (`{"error": ...}`), else the JSON:API one every vendor errors_* schema shares.
OAUTH_ERRORS = ("components", "schemas", "errors_authentication_failed")
JSONAPI_ERRORS = ("components", "schemas", "errors_bad_request")


@functools.cache
def vendor() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with REFERENCE.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)  # type: ignore[no-any-return]  # noqa: S506


def _node(parts: tuple[str, ...] | list[Any]) -> Any:
    node: Any = vendor()
    for part in parts:
        node = node[int(part) if isinstance(node, list) else str(part)]
    return node


def _resolved(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = _node(tuple(node["$ref"].removeprefix("#/").split("/")))
    return node


@functools.cache
def _validator(parts: tuple[str, ...]) -> Any:
    """The vendor's schema at `parts` of the document, the document its root (so its `$ref`s
    resolve), under 2020-12 with formats asserted."""
    escaped = "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)
    pointer = "#" + quote("/" + escaped, safe="/~")
    return jsonschema_rs.Draft202012Validator({**vendor(), "$ref": pointer},
                                              validate_formats=True)


def _nullable_null(error: Any) -> bool:
    """A null refused by `type` where the schema also says OpenAPI 3.0's `nullable: true`."""
    path = list(error.schema_path)
    if path[-1] != "type" or error.instance is not None:
        return False
    return _node(path[:-1]).get("nullable") is True


def schema_errors(body: Any, parts: tuple[str, ...], *, strict: bool = False) -> list[str]:
    """Where `body` breaks the vendor's schema at `parts` (NULLABLE unless `strict`)."""
    return [f"/{'/'.join(map(str, e.instance_path))}: {e.message} "
            f"(at {'/'.join(map(str, e.schema_path))})"
            for e in _validator(parts).iter_errors(body)
            if strict or not _nullable_null(e)]


def _names(schema: Any) -> set[str]:
    return set(_resolved(schema).get("properties", {}))


def member_errors(resource: Any, schema: Any) -> list[str]:
    """The members, attributes, relationships and links of one resource object that its
    vendor schema does not name."""
    declared = _resolved(schema)["properties"]
    where = f"{resource.get('type')} {resource.get('id')}"
    errors = [f"{where}: member {n!r}" for n in set(resource) - set(declared)]
    for part in ("attributes", "relationships", "links"):
        if isinstance(resource.get(part), dict) and part in declared:
            errors += [f"{where}: {part} {n!r}"
                       for n in sorted(set(resource[part]) - _names(declared[part]))]
    return errors


# The vendor schema of a resource of each type Patron includes (the data of its show answer).
INCLUDED = {"contacts": ("components", "schemas", "contacts_show_response")}


def conformance_errors(method: str, path: str, r: httpx.Response) -> list[str]:
    """Where the answer `r` of the vendor's operation `method path` differs from it."""
    operation = vendor()["paths"][path][method]
    declared = operation["responses"].get(str(r.status_code))
    oauth = path.startswith("/v1/oauth/")
    if declared is None:
        if r.status_code not in UNDECLARED.get((method, path), {}):
            return [f"status {r.status_code} is not declared by {method.upper()} {path} "
                    f"(it declares {', '.join(operation['responses'])})"]
        schemas = {OAUTH: OAUTH_ERRORS} if oauth else {JSONAPI: JSONAPI_ERRORS}
    else:
        schemas = {media_type: ("paths", path, method, "responses", str(r.status_code),
                                "content", media_type, "schema")
                   for media_type in _resolved(declared).get("content") or {}}
    if not schemas:
        # Declared without a body: the revoke route's 200 ("A successful response will have an
        # empty body") and 401 ("An error response will include a JSON body with error
        # details", checked as the token route's errors are).
        if r.is_success:
            return [] if r.content == b"" else [f"a body where none is declared: {r.text[:200]}"]
        schemas = {OAUTH: OAUTH_ERRORS}
    media_type = r.headers.get("content-type", "")
    if media_type not in schemas:
        return [f"Content-Type {media_type!r}, declared {', '.join(schemas)}"]
    parts = schemas[media_type]
    body = r.json()
    errors = schema_errors(body, parts)
    if isinstance(body, dict) and "data" in body:
        data_schema = _resolved(_resolved(_node(parts))["properties"]["data"])
        items, item_schema = (body["data"], data_schema["items"]) if isinstance(
            body["data"], list) else ([body["data"]], data_schema)
        for item in items:
            errors += member_errors(item, item_schema)
        for item in body.get("included", []):
            if item.get("type") not in INCLUDED:
                errors.append(f"an included resource of type {item.get('type')!r}, which "
                              "this test has no vendor schema for")
                continue
            item_parts = (*INCLUDED[item["type"]], "properties", "data")
            errors += schema_errors(item, item_parts)
            errors += member_errors(item, _node(item_parts))
    return errors


async def call(client: httpx.AsyncClient, method: str, path: str, url: str,
               status: int, **kwargs: Any) -> httpx.Response:
    """Sends one request to the operation `method path` of the vendor's document and checks
    the answer against it, and that its status is `status` (so each case is the one meant)."""
    r = await client.request(method.upper(), url, **kwargs)
    assert r.status_code == status, f"{method.upper()} {url}: {r.status_code} {r.text[:300]}"
    errors = conformance_errors(method, path, r)
    assert errors == [], f"{method.upper()} {url} ({r.status_code}):\n" + "\n".join(errors)
    return r


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def demo(services: Services) -> Services:
    await load_demo(services, generated=10)
    return services


async def demo_auth(client: httpx.AsyncClient) -> dict[str, str]:
    r = await call(client, "post", "/v1/oauth/token", "/v1/oauth/token", 200, data={
        "grant_type": "client_credentials",
        "client_id": DEMO_CREDENTIALS["marketing_client_id"],
        "client_secret": DEMO_CREDENTIALS["marketing_client_secret"]})
    return bearer(r.json()["access_token"])


async def unscoped_auth(client: httpx.AsyncClient, services: Services,
                        org: OrgCredentials) -> dict[str, str]:
    """A token of a marketing client without the `customers:read` scope. `customers:read` is
    the marketing face's one scope, and a credential cannot be made without a scope or with
    another face's (auth.service.checked_scopes): this one is stored with it and stripped of it
    in the database, as one made before scopes were checked could be."""
    login = f"unscoped-{uuid.uuid4().hex[:8]}"
    async with services.db.transaction() as tx:
        issued = await services.auth.create_credential(
            tx, org.org_id, "marketing_client", login=login)
        await tx.execute(sql("UPDATE credentials SET scopes = 'customers:write' "
                             "WHERE org_id = $1 AND id = $2"), org.org_id, issued.id)
    r = await client.post("/v1/oauth/token", data={
        "grant_type": "client_credentials", "client_id": login, "client_secret": issued.secret})
    assert r.status_code == 200, r.text
    return bearer(r.json()["access_token"])


# -- the document itself -------------------------------------------------------------------


def test_the_vendored_document_is_the_one_named() -> None:
    """The file is the published one, unedited: its digest is the one its README gives."""
    readme = (REFERENCE.parent / "README.md").read_text(encoding="utf-8")
    assert hashlib.sha256(REFERENCE.read_bytes()).hexdigest() in readme
    info = vendor()["info"]
    assert (vendor()["openapi"], info["title"], info["version"]) == (
        "3.1.1", "Kajabi API V1", "1.1.0")
    for method, path in UNDECLARED:
        assert method in vendor()["paths"][path]


def test_vendor_error_schemas_share_one_shape() -> None:
    """An undeclared JSON:API error is checked against errors_bad_request: every other
    JSON:API errors_* schema of the document is the same schema."""
    schemas = vendor()["components"]["schemas"]
    shapes = {name: schemas[name] for name in schemas
              if name.startswith("errors_") and name != "errors_attributes"
              and name != "errors_authentication_failed"}
    assert len(shapes) == 6
    assert all(shape == schemas["errors_bad_request"] for shape in shapes.values())


def test_the_vendors_own_example_needs_the_nullable_reading() -> None:
    """NULLABLE (module docstring): the example answer in the description of
    `GET /v1/customers/{id}` breaks the operation's own schema when read strictly, only by
    nulls where the schema says `nullable: true`."""
    description = vendor()["paths"]["/v1/customers/{id}"]["get"]["description"]
    example = json.loads(re.findall(r"```json\n(.*?)```", description, re.S)[0])
    parts = ("paths", "/v1/customers/{id}", "get", "responses", "200", "content", JSONAPI,
             "schema")
    assert [e.split(":")[0] for e in schema_errors(example, parts, strict=True)] == [
        "/data/attributes/socials", "/data/attributes/last_request_at",
        "/data/attributes/bounced_at"]
    assert schema_errors(example, parts) == []
    (contact,) = [item for item in example["included"] if item["type"] == "contacts"]
    contact_parts = (*INCLUDED["contacts"], "properties", "data")
    assert [e.split(":")[0] for e in schema_errors(contact, contact_parts, strict=True)] == [
        "/attributes/external_user_id"]
    assert schema_errors(contact, contact_parts) == []


def test_nullable_is_the_only_relaxation() -> None:
    """NULLABLE (module docstring): the strict 2020-12 reading refuses these nulls; the relaxed
    one admits them, and nothing else."""
    example = {"data": {"id": "123", "type": "customers", "attributes": {
        "name": "Alice Smith", "email": "alice@example.com", "avatar": None,
        "external_user_id": None, "socials": None, "sign_in_count": None,
        "last_request_at": None, "bounced_at": None,
        "created_at": "2021-01-01T00:00:00Z"}}}
    parts = ("paths", "/v1/customers/{id}", "get", "responses", "200", "content", JSONAPI,
             "schema")
    strict = schema_errors(example, parts, strict=True)
    assert {e.split(":")[0] for e in strict} == {
        f"/data/attributes/{n}" for n in ("external_user_id", "socials", "sign_in_count",
                                          "last_request_at", "bounced_at")}
    assert schema_errors(example, parts) == []
    # Not nullable: a null name, a null created_at, a created_at that is no date-time.
    for name, value in (("name", None), ("created_at", None), ("created_at", "yesterday"),
                        ("sign_in_count", "3")):
        wrong = {"data": {**example["data"], "attributes": {
            **example["data"]["attributes"], name: value}}}
        assert [e.split(":")[0] for e in schema_errors(wrong, parts)] == [
            f"/data/attributes/{name}"], (name, value)
    # An error's source may be null (errors_attributes), not a string.
    for source, failing in ((None, False), ("filter", True)):
        body = {"errors": [{"status": "400", "source": source, "title": "t", "detail": "d"}]}
        assert bool(schema_errors(body, JSONAPI_ERRORS)) is failing


def test_members_the_vendor_does_not_name_are_found() -> None:
    schema = _node(("components", "schemas", "customers_show_response", "properties", "data"))
    resource = {"id": "1", "type": "customers", "attributes": {"name": "A", "loyalty": 1},
                "relationships": {"site": {}, "tags": {}}, "meta": {}}
    assert sorted(member_errors(resource, schema)) == [
        "customers 1: attributes 'loyalty'", "customers 1: member 'meta'",
        "customers 1: relationships 'tags'"]


def test_the_docs_list_the_undeclared_statuses() -> None:
    """docs/compat/marketing.md's table of statuses the vendor's document does not declare is
    UNDECLARED, row for row."""
    text = (ROOT / "docs" / "compat" / "marketing.md").read_text(encoding="utf-8")
    section = text.split("### Statuses the vendor's document does not declare", 1)[1]
    section = section.split("\n#", 1)[0]
    rows = re.findall(r"^\| `(GET|POST) (/v1/[^`]+)` \| ([\d, ]+) \|", section, re.M)
    listed = {(m.lower(), p, int(s)) for m, p, statuses in rows for s in statuses.split(",")}
    assert listed == {(m, p, s) for (m, p), found in UNDECLARED.items() for s in found}


# -- OAuth ---------------------------------------------------------------------------------


async def test_token(client: httpx.AsyncClient, org: OrgCredentials) -> None:
    form = {"grant_type": "client_credentials", "client_id": org.marketing_client_id,
            "client_secret": org.marketing_client_secret}
    pair = (await call(client, "post", "/v1/oauth/token", "/v1/oauth/token", 200,
                       data=form)).json()
    await call(client, "post", "/v1/oauth/token", "/v1/oauth/token", 200, json=form)
    await call(client, "post", "/v1/oauth/token", "/v1/oauth/token", 200,
               data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]})
    for body, status in (
            ({**form, "client_secret": "wrong"}, 401),
            ({"grant_type": "client_credentials", "client_id": org.marketing_client_id}, 400),
            ({"username": "a@example.com", "password": "secret"}, 400),
            ({"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}, 400),
            ({}, 400)):
        await call(client, "post", "/v1/oauth/token", "/v1/oauth/token", status, data=body)
    await call(client, "post", "/v1/oauth/token", "/v1/oauth/token", 401, data={
        "grant_type": "client_credentials"}, headers={"Authorization": "Basic !!"})
    await call(client, "post", "/v1/oauth/token", "/v1/oauth/token", 400,
               json=["not", "an", "object"])


async def test_token_after_too_many_failed_sign_ins(client: httpx.AsyncClient,
                                                    org: OrgCredentials) -> None:
    wrong = {"grant_type": "client_credentials", "client_id": org.marketing_client_id,
             "client_secret": "wrong"}
    for _ in range(FAILED_SIGN_INS_PER_MINUTE):
        await call(client, "post", "/v1/oauth/token", "/v1/oauth/token", 401, data=wrong)
    r = await call(client, "post", "/v1/oauth/token", "/v1/oauth/token", 429, data=wrong)
    assert r.headers["retry-after"]


async def test_revoke(client: httpx.AsyncClient, org: OrgCredentials) -> None:
    auth = await marketing_auth(client, org)
    spare = await marketing_auth(client, org)
    token = spare["Authorization"].removeprefix("Bearer ")
    await call(client, "post", "/v1/oauth/revoke", "/v1/oauth/revoke", 401,
               data={"token": token})
    await call(client, "post", "/v1/oauth/revoke", "/v1/oauth/revoke", 401,
               data={"token": token}, headers=bearer("bogus"))
    await call(client, "post", "/v1/oauth/revoke", "/v1/oauth/revoke", 400, data={},
               headers=auth)
    await call(client, "post", "/v1/oauth/revoke", "/v1/oauth/revoke", 200,
               data={"token": token}, headers=auth)
    await call(client, "post", "/v1/oauth/revoke", "/v1/oauth/revoke", 200,
               data={"token": "unknown"}, headers=auth)


# -- version, me, sites --------------------------------------------------------------------


async def test_version(client: httpx.AsyncClient, services: Services,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    await call(client, "get", "/v1/version", "/v1/version", 200)

    async def down() -> bool:
        raise ConnectionError("the store is down")

    monkeypatch.setattr(services.db, "ping", down)
    await call(client, "get", "/v1/version", "/v1/version", 503)


async def test_me(client: httpx.AsyncClient, services: Services, org: OrgCredentials) -> None:
    await call(client, "get", "/v1/me", "/v1/me", 200, headers=await marketing_auth(client, org))
    await call(client, "get", "/v1/me", "/v1/me", 401)
    await call(client, "get", "/v1/me", "/v1/me", 401, headers=bearer("nope"))
    await call(client, "get", "/v1/me", "/v1/me", 403,
               headers=await unscoped_auth(client, services, org))


async def test_sites(client: httpx.AsyncClient, services: Services, org: OrgCredentials,
                     other_org: OrgCredentials) -> None:
    auth = await marketing_auth(client, org)
    await add_site(services, org.org_id, "Beginner Training", "beginner-training")
    await add_site(services, org.org_id, "Advanced Training", "")
    for query in ("", "page[number]=2&page[size]=1", "page[number]=9", "sort=title",
                  "sort=-subdomain", "fields[sites]=title", "fields[sites]=created_at,updated_at",
                  "filter[title_cont]=training&sort=-title", "filter[subdomain_cont]=BEGIN",
                  "filter[title_cont]=nothing-like-it"):
        await call(client, "get", "/v1/sites", f"/v1/sites?{query}", 200, headers=auth)
    for query in ("sort=created_at", "filter[name]=x", "fields[sites]=colour", "page[size]=0",
                  "page[cursor]=x"):
        await call(client, "get", "/v1/sites", f"/v1/sites?{query}", 400, headers=auth)
    await call(client, "get", "/v1/sites", "/v1/sites", 401)
    await call(client, "get", "/v1/sites", "/v1/sites", 403,
               headers=await unscoped_auth(client, services, org))

    show = "/v1/sites/{id}"
    await call(client, "get", show, f"/v1/sites/{org.site_id}", 200, headers=auth)
    await call(client, "get", show, f"/v1/sites/{org.site_id}?fields[sites]=subdomain", 200,
               headers=auth)
    await call(client, "get", show, f"/v1/sites/{org.site_id}?fields[sites]=colour", 400,
               headers=auth)
    for missing in ("987654321", "abc", str(other_org.site_id)):
        await call(client, "get", show, f"/v1/sites/{missing}", 404, headers=auth)
    await call(client, "get", show, f"/v1/sites/{org.site_id}", 401, headers=bearer("nope"))
    await call(client, "get", show, f"/v1/sites/{org.site_id}", 403,
               headers=await unscoped_auth(client, services, org))


async def test_the_rate_limit(client: httpx.AsyncClient, services: Services,
                              org: OrgCredentials, monkeypatch: pytest.MonkeyPatch) -> None:
    auth = await marketing_auth(client, org)
    # Mid-minute, so that the limit's window cannot turn between the requests.
    monkeypatch.setattr(guard, "time", MovedTime("time", 1_800_000_030.0))
    services.limiter.per_minute = 1
    try:
        await call(client, "get", "/v1/me", "/v1/me", 200, headers=auth)  # the one allowed
        for path, url in (("/v1/me", "/v1/me"), ("/v1/sites", "/v1/sites"),
                          ("/v1/sites/{id}", f"/v1/sites/{org.site_id}"),
                          ("/v1/customers", "/v1/customers"),
                          ("/v1/customers/{id}", "/v1/customers/1")):
            r = await call(client, "get", path, url, 429, headers=auth)
            assert r.headers["retry-after"]
        await call(client, "post", "/v1/oauth/revoke", "/v1/oauth/revoke", 429,
                   data={"token": "unknown"}, headers=auth)
    finally:
        services.limiter.per_minute = 0


# -- customers -----------------------------------------------------------------------------


LIST_QUERIES = (
    "", "page[size]=100", "page[number]=2&page[size]=3", "page[number]=999",
    "sort=name", "sort=-name", "sort=email", "sort=-email", "sort=created_at",
    "sort=-created_at", "sort=net_revenue", "sort=-net_revenue", "sort=last_request_at",
    "sort=-last_request_at",
    "fields[customers]=name,email", "fields[customers]=external_user_id",
    "fields[customers]=name,site,offers,products,contact", "fields[customers]=bounced_at",
    "include=contact", "include=contact,offers,products", "include=offers",
    "include=contact&fields[contacts]=name,email,subscribed",
    "include=contact&fields[customers]=name&fields[contacts]=phone_number",
    f"filter[site_id]={DEMO_CREDENTIALS['site_id']}", "filter[search]=sharma",
    "filter[search]=%2B91", "filter[search]=nobody-is-called-this",
    f"filter[site_id]={DEMO_CREDENTIALS['site_id']}&fields[customers]=name,email"
    "&page[number]=2&page[size]=2&filter[search]=a",
)
LIST_REFUSED = (
    ("page[size]=0", 400), ("page[size]=101", 400), ("page[number]=0", 400),
    ("page[number]=x", 400), ("page[offset]=1", 400), ("sort=colour", 400),
    ("sort=name,email", 400), ("fields[customers]=colour", 400),
    ("fields[contacts]=custom_1", 400), ("include=tags", 400), ("filter[has_tag_id]=1", 400),
    ("filter[is_suppressed]=true", 400), ("filter[colour]=red", 400),
    ("filter[site_id]=123456789", 404), ("filter[site_id]=abc", 404),
)


async def test_customer_list_on_the_demo(client: httpx.AsyncClient, demo: Services) -> None:
    auth = await demo_auth(client)
    for query in LIST_QUERIES:
        await call(client, "get", "/v1/customers", f"/v1/customers?{query}", 200, headers=auth)
    for query, status in LIST_REFUSED:
        await call(client, "get", "/v1/customers", f"/v1/customers?{query}", status,
                   headers=auth)
    await call(client, "get", "/v1/customers", "/v1/customers", 401)
    await call(client, "get", "/v1/customers", "/v1/customers", 401, headers=bearer("nope"))


async def test_customer_show_on_the_demo(client: httpx.AsyncClient, demo: Services) -> None:
    auth = await demo_auth(client)
    listed = (await call(client, "get", "/v1/customers", "/v1/customers?page[size]=100", 200,
                         headers=auth)).json()["data"]
    show = "/v1/customers/{id}"
    site = DEMO_CREDENTIALS["site_id"]
    for customer in listed:
        await call(client, "get", show, f"/v1/customers/{customer['id']}"
                   "?include=contact,offers,products", 200, headers=auth)
    cid = "566881933"  # seed 000's customer
    for query in ("", "fields[customers]=name,email", "fields[customers]=name&include=products"
                  "&fields[product]=title", "include=contact&fields[contacts]=email",
                  "include=offers&filter[offers_search]=gold&filter[offers_page]=1"
                  "&filter[offers_per]=10", "include=products&filter[products_search]=x"
                  "&filter[products_page]=2&filter[products_per]=5",
                  "filter[offers_per]=0&filter[products_page]=x", f"filter[site_id]={site}"):
        await call(client, "get", show, f"/v1/customers/{cid}?{query}", 200, headers=auth)
    for query, status in (("include=offers&filter[offers_per]=0", 400),
                          ("filter[colour]=red", 400), ("include=tags", 400),
                          ("fields[customers]=colour", 400), ("filter[site_id]=999999", 404)):
        await call(client, "get", show, f"/v1/customers/{cid}?{query}", status, headers=auth)
    for missing in ("1", "abc", "9" * 30):
        await call(client, "get", show, f"/v1/customers/{missing}", 404, headers=auth)
    await call(client, "get", show, f"/v1/customers/{cid}", 401)


async def test_customers_with_every_attribute_set(client: httpx.AsyncClient, services: Services,
                                                  org: OrgCredentials,
                                                  other_org: OrgCredentials) -> None:
    """What the demo leaves null: an avatar, a hard bounce, sign-ins and requests, an e-mail
    subscription; and a customer with neither name nor e-mail address; in an organisation of
    several sites, where the list needs filter[site_id]."""
    work = workspace_auth(org)
    r = await client.post("/api/customers", headers=work, json={
        "externalId": "user-42", "email": "ann@example.com", "phone": "+91 99860-00581",
        "firstName": "Ann", "lastName": "Lee", "avatarUrl": "https://cdn.example/a.png"})
    assert r.status_code == 201, r.text
    ann = r.json()["data"]["id"]
    r = await client.post("/patron/v1/records", headers=work, json={"records": [
        {"kind": "message", "id": "m1", "customer": {"id": ann}, "channel": "email",
         "sentAt": 1_767_225_000_000},
        {"kind": "delivery", "message": "m1", "event": "bounced", "bounceType": "hard",
         "at": 1_767_225_100_000},
        {"kind": "sign_in", "customer": {"id": ann}, "at": 1_767_225_200_000},
        {"kind": "request", "customer": {"id": ann}, "at": 1_767_225_300_000},
        {"kind": "email_subscription", "customer": {"id": ann}, "action": "subscribed",
         "at": 1_767_225_400_000}]})
    assert r.status_code == 200, r.text
    assert all(result.get("error") is None for result in r.json()["results"]), r.text
    bare = await add_customer(client, till_auth(org),
                              identifiers=[{"type": "mobile", "value": "919986000999"}])
    auth = await marketing_auth(client, org)
    show = "/v1/customers/{id}"
    r = await call(client, "get", show, f"/v1/customers/{ann}?include=contact", 200,
                   headers=auth)
    attributes = r.json()["data"]["attributes"]
    assert attributes["avatar"] and attributes["bounced_at"] and attributes["last_request_at"]
    assert attributes["sign_in_count"] == 1 and attributes["external_user_id"] == "user-42"
    assert r.json()["included"][0]["attributes"]["subscribed"] is True
    await call(client, "get", show, f"/v1/customers/{bare}?include=contact", 200, headers=auth)
    await call(client, "get", "/v1/customers", "/v1/customers?include=contact", 200,
               headers=auth)
    await call(client, "get", "/v1/customers", f"/v1/customers?filter[site_id]="
               f"{other_org.site_id}", 404, headers=auth)
    await call(client, "get", show, f"/v1/customers/{ann}", 404,
               headers=await marketing_auth(client, other_org))
    await call(client, "get", show, f"/v1/customers/{ann}", 403,
               headers=await unscoped_auth(client, services, org))
    await call(client, "get", "/v1/customers", "/v1/customers", 403,
               headers=await unscoped_auth(client, services, org))
    second = await add_site(services, org.org_id, "Second")
    await call(client, "get", "/v1/customers", "/v1/customers", 400, headers=auth)
    await call(client, "get", "/v1/customers", f"/v1/customers?filter[site_id]={second}", 200,
               headers=auth)
    await call(client, "get", "/v1/customers", f"/v1/customers?filter[site_id]={org.site_id}"
               "&include=contact", 200, headers=auth)
    await call(client, "get", show, f"/v1/customers/{ann}?filter[site_id]={second}", 404,
               headers=auth)
