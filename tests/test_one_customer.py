"""One customer, three faces: a hypothesis-drawn run of writes through two faces (the workspace
face's create or upsert by external id, patch, and delete with PII scrub; the loyalty face's
registration and approved PII deletion request) over a few external ids and e-mail addresses, so
that they collide. After every step, each face answers as a small model says: the workspace face by
external id and in its count, the loyalty face by external id, by e-mail and by customer id, and
the marketing face by customer id.

As in tests/test_loyalty_model.py, the machine is drawn step by step with `st.data()` inside one
async test; each example runs in an organisation of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from patron.services import Services
from tests.conftest import marketing_auth, till_auth, workspace_auth
from tests.exploring import examples

EXTERNAL_IDS = ("x0", "x1", "x2")
EMAILS = ("a@one.test", "b@one.test", "c@one.test")
NAMES = ("Ada", "Bo", "Cy")
DELETED = "Customer is deleted after PII delete request"


@dataclass
class Person:
    id: int
    external_id: str
    email: str | None
    first_name: str | None


@dataclass
class Model:
    live: dict[str, Person] = field(default_factory=dict)  # by external id
    deleted: list[int] = field(default_factory=list)

    def holder(self, email: str | None) -> Person | None:
        return next((p for p in self.live.values() if email and p.email == email), None)


steps = st.one_of(
    st.tuples(st.just("upsert"), st.sampled_from(EXTERNAL_IDS),
              st.sampled_from((None, *EMAILS)), st.sampled_from((None, *NAMES))),
    st.tuples(st.just("patch"), st.sampled_from(EXTERNAL_IDS),
              st.sampled_from((None, "", *EMAILS)), st.sampled_from((None, *NAMES))),
    st.tuples(st.just("delete"), st.sampled_from(EXTERNAL_IDS)),
    st.tuples(st.just("register"), st.sampled_from(EXTERNAL_IDS),
              st.sampled_from((None, *EMAILS)), st.sampled_from(NAMES)),
    st.tuples(st.just("forget"), st.sampled_from(EXTERNAL_IDS)),
)


def _body(email: str | None, first_name: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if email is not None:
        body["email"] = email
    if first_name is not None:
        body["firstName"] = first_name
    return body


async def _check(client: httpx.AsyncClient, model: Model, work: dict[str, str],
                 loyalty: dict[str, str], marketing: dict[str, str]) -> None:
    count = (await client.get("/api/customers/count", headers=work)).json()["data"]["count"]
    assert count == len(model.live)
    for ext in EXTERNAL_IDS:
        person = model.live.get(ext)
        r = await client.get(f"/api/customers/ext_{ext}", headers=work)
        found = await client.get("/v2/customers/lookup", headers=loyalty, params={
            "source": "INSTORE", "identifierName": "externalId", "identifierValue": ext})
        if person is None:
            assert r.status_code == 404, r.text
            assert found.status_code == 404, found.text
            continue
        data = r.json()["data"]
        assert (data["id"], data["email"], data["firstName"]) == (
            person.id, person.email, person.first_name), data
        assert found.json()["entity"] == person.id
        r = await client.get(f"/v1/customers/{person.id}", headers=marketing)
        attributes = r.json()["data"]["attributes"]
        assert (attributes["external_user_id"], attributes["email"] or None) == (
            ext, person.email), attributes
    for email in EMAILS:
        holder = model.holder(email)
        found = await client.get("/v2/customers/lookup", headers=loyalty, params={
            "source": "INSTORE", "identifierName": "email", "identifierValue": email})
        if holder is None:
            assert found.status_code == 404, (email, found.text)
        else:
            assert found.json()["entity"] == holder.id, (email, found.text)
    for customer_id in model.deleted:
        r = await client.get(f"/v2/customers/{customer_id}", headers=loyalty,
                             params={"source": "INSTORE"})
        assert r.json()["errors"][0]["message"] == DELETED, r.text
        assert (await client.get(f"/v1/customers/{customer_id}",
                                 headers=marketing)).status_code == 404


@examples(25, HealthCheck.too_slow)
@given(program=st.lists(steps, min_size=3, max_size=14))
async def test_one_customer_through_three_faces(client: httpx.AsyncClient, services: Services,
                                                program: list[tuple]) -> None:
    org = await services.tenancy.create_org("one customer")
    work, loyalty = workspace_auth(org), till_auth(org)
    marketing = await marketing_auth(client, org)
    model = Model()
    for step in program:
        ext = step[1]
        person = model.live.get(ext)
        if step[0] == "upsert":
            email, first_name = step[2], step[3]
            r = await client.post("/api/customers", headers=work,
                                  json={"externalId": ext, **_body(email, first_name)})
            other = model.holder(email)
            if other is not None and other is not person:
                assert r.status_code == 409, r.text
            elif person is None:
                assert r.status_code == 201, r.text
                model.live[ext] = Person(r.json()["data"]["id"], ext, email, first_name)
            else:
                assert r.status_code == 200, r.text
                person.email = email if email is not None else person.email
                person.first_name = first_name if first_name is not None else person.first_name
        elif step[0] == "patch":
            email, first_name = step[2], step[3]
            r = await client.patch(f"/api/customers/ext_{ext}", headers=work,
                                   json=_body(email, first_name))
            other = model.holder(email)
            if person is None:
                assert r.status_code == 404, r.text
            elif other is not None and other is not person:
                assert r.status_code == 409, r.text
            else:
                assert r.status_code == 200, r.text
                if email is not None:
                    person.email = email or None
                if first_name is not None:
                    person.first_name = first_name
        elif step[0] == "register":
            email, first_name = step[2], step[3]
            identifiers = [{"type": "externalId", "value": ext}] + (
                [{"type": "email", "value": email}] if email else [])
            r = await client.post("/v2/customers", headers=loyalty, json={"profiles": [
                {"firstName": first_name, "identifiers": identifiers}]})
            if person is not None or model.holder(email) is not None:
                # every customer here has an INSTORE profile: 8006, or 8053 when the two
                # identifiers name two customers
                assert r.status_code == 400, r.text
                assert r.json()["errors"][0]["code"] in (8006, 8053), r.text
            else:
                assert r.status_code == 200, r.text
                model.live[ext] = Person(r.json()["createdId"], ext, email, first_name)
        elif step[0] == "forget":
            r = await client.post("/v2/requests", headers=loyalty, json={
                "type": "CUSTOMER", "baseType": "DELETE", "customerIdentificationInfo": {
                    "source": "INSTORE", "identifierType": "externalId",
                    "identifierValue": ext}})
            if person is None:
                assert r.status_code == 404, r.text
            else:
                assert r.status_code == 200, r.text
                r = await client.put("/v2/requests", headers=loyalty, json=[
                    {"id": str(r.json()["createdId"]), "status": "APPROVED"}])
                assert r.status_code == 200, r.text
                model.deleted.append(model.live.pop(ext).id)
        else:
            r = await client.delete(f"/api/customers/ext_{ext}", headers=work)
            if person is None:
                assert r.status_code == 404, r.text
            else:
                assert r.status_code == 200, r.text
                model.deleted.append(model.live.pop(ext).id)
        await _check(client, model, work, loyalty, marketing)
