"""Schemathesis hooks and checks for tests/test_fuzz.py, loaded by `st run` through
SCHEMATHESIS_HOOKS.

Generated ids and identifiers almost never name anything, so most requests would stop at a 404.
When PATRON_FUZZ_CUSTOMER (a customer id) and PATRON_FUZZ_MOBILE (its mobile) are set, half of
the generated requests name that customer instead: in the path (`customer_id`, `user_id`) and
in `identifierName`/`identifierValue` queries, so that the fuzzed bodies and parameters reach
the code behind the look-up.

`no_foreign_data` (the tenancy run): no answer holds PATRON_FUZZ_FOREIGN's text.

`face_envelope`: whatever a generated request holds, the answer carries a request id (and on the
marketing face the JSON:API media type), is never a server error, and an error answer is in the
envelope of the face that served it (tests/envelopes.py), read from JSON or, for v1.1's
`format=xml`, from XML.
"""

from __future__ import annotations

import json
import os
from typing import Any
from xml.etree import ElementTree

import schemathesis
from hypothesis import strategies as st

from tests.envelopes import check_envelope

CUSTOMER = os.environ.get("PATRON_FUZZ_CUSTOMER")
MOBILE = os.environ.get("PATRON_FUZZ_MOBILE")
CUSTOMER_PARAMETERS = ("customer_id", "user_id")
# Text no answer may hold: another organisation's customer's data (PATRON_FUZZ_FOREIGN, one per
# line), for the tenancy run.
FOREIGN = [t.encode() for t in os.environ.get("PATRON_FUZZ_FOREIGN", "").splitlines() if t]


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


@schemathesis.check
def face_envelope(ctx: Any, response: Any, case: Any) -> bool | None:
    # Every answer, whatever its status, carries its request id (DESIGN.md); the marketing
    # face's are JSON:API documents, but for its token endpoint's.
    assert response.headers.get("x-request-id"), "an answer without X-Request-Id"
    path = case.operation.path
    if path.startswith("/v1/") and not path.startswith("/v1/oauth/"):
        media = (response.headers.get("content-type") or [""])[0]
        assert media.startswith("application/vnd.api+json"), f"{media!r}, not JSON:API"
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
