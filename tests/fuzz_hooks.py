"""Schemathesis hooks and checks for tests/test_fuzz.py, loaded by `st run` through
SCHEMATHESIS_HOOKS.

Generated ids and identifiers almost never name anything, so most requests would stop at a 404.
When PATRON_FUZZ_CUSTOMER (a customer id) and PATRON_FUZZ_MOBILE (its mobile) are set, half of
the generated requests name that customer instead: in the path (`customer_id`, `user_id`) and
in `identifierName`/`identifierValue` queries, so that the fuzzed bodies and parameters reach
the code behind the look-up.

`no_foreign_data` (the tenancy run): no answer holds PATRON_FUZZ_FOREIGN's text.

`face_envelope`: whatever a generated request holds, the answer is never a server error, and an
error answer is in the envelope of the face that served it (docs/compat/*.md):

- loyalty (`/v2/...`, `/v3/...`, `/webhooks/...`): `{"errors": [{"status": false, "code": N,
  "message"}], ...}`;
- loyalty v1.1 (`/v1.1/...`): `{"response": {"status": {"success": "false", "code": N,
  "message"}, ...}}`, or the same in XML with `format=xml`, with the HTTP status equal to
  `code`, as Capillary's v1.1 answers. Its
  "All requests have failed" answer is HTTP 500 by design, so there a 500 is allowed in that
  envelope only. What is refused before the route is reached (credentials, scope, method, body
  size, rate) has the v2 envelope, as docs/compat/loyalty.md says;
- loyalty bulk routes: `{"response": [{..., "errors": [...]}], "totalCount", "failureCount"}`,
  each failed element with the v2 error items;
- marketing (`/v1/...`): JSON:API `{"errors": [{"status": "400", "title", "detail"}]}`; the
  OAuth routes answer `{"error": "..."}` themselves and JSON:API before they are reached;
- workspace (`/api/...`): `{"success": false, "error": {"code", "message"}}`;
- native (`/patron/...`): `{"error": {"code", "message", ...}}`.
"""

from __future__ import annotations

import json
import os
from typing import Any
from xml.etree import ElementTree

import schemathesis
from hypothesis import strategies as st

CUSTOMER = os.environ.get("PATRON_FUZZ_CUSTOMER")
MOBILE = os.environ.get("PATRON_FUZZ_MOBILE")
CUSTOMER_PARAMETERS = ("customer_id", "user_id")
# Text no answer may hold: another organisation's customer's data (PATRON_FUZZ_FOREIGN, one per
# line), for the tenancy run.
FOREIGN = [t.encode() for t in os.environ.get("PATRON_FUZZ_FOREIGN", "").splitlines() if t]

V1_1_ALL_FAILED = "All requests have failed due to errors"


def _body(response: Any) -> Any:
    """The answer as JSON, or v1.1's XML answer (`format=xml`) as the same nested dict."""
    content = response.content
    if content.startswith(b"<?xml"):
        try:
            return {"response": _xml_dict(ElementTree.fromstring(content))}  # noqa: S314 - ours
        except ElementTree.ParseError as exc:
            raise AssertionError(f"error answer is not well-formed XML ({exc}): "
                                 f"{content[:300]!r}") from None
    try:
        return json.loads(content)
    except ValueError:
        raise AssertionError(f"error answer is neither JSON nor XML: {content[:200]!r}") from None


def _xml_dict(element: Any) -> Any:
    children = list(element)
    if not children:
        return element.text or ""
    return {child.tag: _xml_dict(child) for child in children}


BEFORE_THE_ROUTE = (401, 403, 405, 413, 429)


def _loyalty_errors(errors: Any) -> None:
    assert errors, "no error items"
    for error in errors:
        assert error["status"] is False and isinstance(error["code"], int), error
        assert isinstance(error["message"], str), error


def check_envelope(path: str, status: int, body: Any) -> None:
    """Raises AssertionError when `body` is not the error envelope of the face serving `path`."""
    if path.startswith("/v1.1/") and not (status in BEFORE_THE_ROUTE and "errors" in body):
        state = body["response"]["status"]
        assert state["success"] == "false" and isinstance(state["message"], str), body
        assert int(state["code"]) == status or status in (401, 403, 404, 429), body
        if status >= 500:
            assert state["message"] == V1_1_ALL_FAILED, body
        return
    assert status < 500, f"server error {status}: {body}"
    if path.startswith("/api/"):
        assert body["success"] is False and set(body["error"]) == {"code", "message"}, body
        assert isinstance(body["error"]["code"], str), body
    elif path.startswith("/patron/"):
        assert isinstance(body["error"]["code"], str), body
        assert isinstance(body["error"]["message"], str), body
    elif path.startswith("/v1/oauth/") and not (status in BEFORE_THE_ROUTE and "errors" in body):
        assert isinstance(body["error"], str), body
    elif path.startswith("/v1/"):
        first = body["errors"][0]
        assert first["status"] == str(status) and {"title", "detail"} <= set(first), body
    elif isinstance(body.get("response"), list):
        assert body["failureCount"] >= 1 and body["totalCount"] == len(body["response"]), body
        for element in body["response"]:
            if element["errors"]:
                _loyalty_errors(element["errors"])
    else:
        _loyalty_errors(body["errors"])


@schemathesis.check
def face_envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code < 400:
        return None
    body = _body(response)
    try:
        check_envelope(case.operation.path, response.status_code, body)
    except (KeyError, IndexError, TypeError):
        raise AssertionError(f"not the face's error envelope: {response.status_code} "
                             f"{body}") from None
    return None


@schemathesis.check
def no_foreign_data(ctx: Any, response: Any, case: Any) -> bool | None:
    content = response.content.lower()
    for text in FOREIGN:
        assert text.lower() not in content, f"an answer holds another organisation's {text!r}"
    return None


def _sometimes(value: Any, real: Any) -> Any:
    return st.booleans().map(lambda use_real: real if use_real else value)


@schemathesis.hook
def flatmap_path_parameters(ctx: Any, parameters: Any) -> Any:
    names = [n for n in CUSTOMER_PARAMETERS if parameters and n in parameters]
    if CUSTOMER is None or not names:
        return st.just(parameters)
    return _sometimes(parameters, {**parameters, **dict.fromkeys(names, CUSTOMER)})


@schemathesis.hook
def flatmap_query(ctx: Any, query: Any) -> Any:
    if MOBILE is None or not query or "identifierValue" not in query:
        return st.just(query)
    return _sometimes(query, {**query, "identifierName": "mobile", "identifierValue": MOBILE})
