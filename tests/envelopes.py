"""The error envelope of each face, as docs/compat/*.md gives it; `check_envelope` is the one
check the reliability, property and fuzz tests use:

- loyalty (`/v2/...`, `/webhooks/...`): `{"errors": [{"status": false, "code": N,
  "message"}], ...}`; the OAuth token route (`/v3/oauth/...`) the same items as
  `{"data": null, "errors": [...]}`, as its answers carry `data`;
- loyalty v1.1 (`/v1.1/...`): `{"response": {"status": {"success": "false", "code": N,
  "message"}, ...}}`, or the same in XML with `format=xml`, with the HTTP status equal to
  `code`, as Capillary's v1.1 answers, whatever refused the request (credentials, scope,
  method, body size, rate, the route itself). Its "All requests have failed" answer is HTTP 500
  by design, so there a 500 is allowed in that envelope only (a 503, the database being
  unavailable, says so instead);
- loyalty bulk routes: `{"response": [{..., "errors": [...]}], "totalCount", "failureCount"}`,
  each failed element with the v2 error items;
- marketing (`/v1/...`): JSON:API `{"errors": [{"status": "400", "title", "detail"}]}`; the
  OAuth routes (`/v1/oauth/...`) `{"error": "..."}`, whatever refused the request;
- workspace (`/api/...`): `{"success": false, "error": {"code", "message"}}`;
- native (`/patron/...`): `{"error": {"code", "message", ...}}`.
"""

from __future__ import annotations

from typing import Any

import httpx

V1_1_ALL_FAILED = "All requests have failed due to errors"


def _loyalty_errors(errors: Any) -> None:
    assert errors, "no error items"
    for error in errors:
        assert error["status"] is False and isinstance(error["code"], int), error
        assert isinstance(error["message"], str), error


def check_envelope(path: str, status: int, body: Any) -> None:
    """Raises AssertionError when `body` is not the error envelope of the face serving `path`."""
    if path.startswith("/v1.1/"):
        state = body["response"]["status"]
        assert state["success"] == "false" and isinstance(state["message"], str), body
        assert int(state["code"]) == status, body
        if status == 500:
            assert state["message"] == V1_1_ALL_FAILED, body
        return
    assert status < 500, f"server error {status}: {body}"
    if path.startswith("/api/"):
        assert body["success"] is False and set(body["error"]) == {"code", "message"}, body
        assert isinstance(body["error"]["code"], str), body
    elif path.startswith("/patron/"):
        assert isinstance(body["error"]["code"], str), body
        assert isinstance(body["error"]["message"], str), body
    elif path.startswith("/v1/oauth/"):
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
        if path.startswith("/v3/oauth/"):
            assert set(body) == {"data", "errors"} and body["data"] is None, body
        _loyalty_errors(body["errors"])


def assert_face_envelope(path: str, r: httpx.Response) -> None:
    """An HTTP answer that is an error: never a server error (but v1.1's), in its face's
    envelope."""
    check_envelope(path, r.status_code, r.json())
