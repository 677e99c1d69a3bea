"""Properties, with hypothesis: normalisation is idempotent, the fast renderings agree with
what they stand for, and any JSON body a client could send gets a 2xx or the face's own error
envelope, never a 500."""

from __future__ import annotations

import time
from datetime import timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from hypothesis import example, given
from hypothesis import strategies as st

from patron.clock import EPOCH, iso_utc, parse_iso
from patron.customers import normalize
from patron.engagement.models import holds_nul
from patron.errors import ValidationFailed
from patron.events.service import event_time
from patron.faces.loyalty.render import identifiers_of_all
from patron.faces.loyalty.v11 import xml_document
from patron.jsonio import dumps, dumps_text, loads
from tests.conftest import till_auth, workspace_auth
from tests.envelopes import assert_face_envelope
from tests.exploring import examples

PROPERTY = examples(60)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                max_size=4),
    max_leaves=20)
def _element_tree_xml(root: str, value: dict[str, Any]) -> bytes:
    """How v1.1 XML was written with ElementTree before it was written as text: the oracle."""
    import xml.etree.ElementTree as ET

    def add(parent: ET.Element, key: str, item: Any) -> None:
        if isinstance(item, list):
            for one in item:
                add(parent, key, one)
            return
        node = ET.SubElement(parent, key)
        if isinstance(item, dict):
            for k, v in item.items():
                add(node, k, v)
        elif isinstance(item, bool):
            node.text = "true" if item else "false"
        elif item is not None:
            node.text = str(item)

    element = ET.Element(root)
    for key, item in value.items():
        add(element, key, item)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


xml_key = st.from_regex(r"[a-z][a-z_]{0,8}", fullmatch=True)
xml_scalar = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"),
                           blacklist_characters="\ufffe\uffff"), max_size=12)
xml_tree = st.recursive(xml_scalar, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(xml_key, inner, max_size=3), max_leaves=12)


@PROPERTY
@given(st.dictionaries(xml_key, xml_tree, max_size=4))
def test_v11_xml_is_what_element_tree_wrote(body: dict[str, Any]) -> None:
    assert xml_document("response", body) == _element_tree_xml("response", body)


@PROPERTY
@given(st.text(max_size=30))
def test_v11_xml_is_well_formed_whatever_the_text(text: str) -> None:
    """Any text, control characters and lone surrogates included, gives XML that parses, with
    every character XML can hold kept and each other one read as U+FFFD."""
    import xml.etree.ElementTree as ET

    parsed = ET.fromstring(xml_document("response", {"message": text}))  # noqa: S314 - ours
    kept = "".join(c if c in "\t\n\r" or "\x20" <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd"
                   or c >= "\U00010000" else "\ufffd" for c in text)
    # An XML parser reads a line end (\r\n or \r) as \n.
    assert (parsed.findtext("message") or "") == kept.replace("\r\n", "\n").replace("\r", "\n")


# Text near the NUL check's edge: U+0000 itself, and the escape orjson writes for it as text.
nul_text = st.lists(st.sampled_from(["\x00", "\\u0000", "\\", "u0000", "a", "\udc80"]),
                    max_size=4).map("".join)
nul_values = st.recursive(
    st.none() | st.integers(min_value=-(2**70), max_value=2**70) | nul_text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(nul_text, inner, max_size=3),
    max_leaves=8)


@PROPERTY
@given(nul_values)
def test_nul_check_finds_exactly_the_values_holding_nul(value: Any) -> None:
    def walk(v: Any) -> bool:
        if isinstance(v, str):
            return "\x00" in v
        if isinstance(v, dict):
            return any(walk(k) or walk(x) for k, x in v.items())
        return isinstance(v, list) and any(walk(x) for x in v)

    assert holds_nul(value) == walk(value)


identifier = st.fixed_dictionaries({
    "type": st.sampled_from(["mobile", "email", "externalId", "wechat", "shoe", ""])
    | st.integers(),
    "value": st.text(max_size=20) | st.integers() | st.none()})
customer_body = st.fixed_dictionaries({
    "profiles": st.lists(st.fixed_dictionaries({
        "source": st.sampled_from(["INSTORE", "WECHAT", "NOPE", ""]) | json_values,
        "identifiers": st.lists(identifier, max_size=3) | json_values,
        "firstName": st.text(max_size=10) | json_values}), max_size=2) | json_values,
    "extendedFields": json_values, "loyaltyInfo": json_values})
workspace_body = st.dictionaries(
    st.sampled_from(["externalId", "email", "name", "firstName", "phone", "metadata", "clickId",
                     "avatarUrl", "x"]), json_values | st.text(max_size=30), max_size=6)


@PROPERTY
@given(st.integers(min_value=-62_135_596_800_000, max_value=253_402_300_799_999))
@example(-62_135_596_800_000)  # 0001-01-01T00:00:00Z
@example(-31_000_000_000_000)  # in 987
def test_iso_utc_is_strftimes_answer(ms: int) -> None:
    """strftime's answer with the year in four digits, as ISO 8601 has it (glibc's %Y leaves
    the years before 1000 unpadded)."""
    shown = iso_utc(ms)
    assert shown == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000)).rjust(20, "0")
    assert shown == (EPOCH + timedelta(milliseconds=ms)).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


@PROPERTY
@given(st.integers(min_value=-62_135_510_400_000, max_value=253_402_214_399_999),
       st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59))
@example(1_079_720_523_205, 0)  # 2004-03-19T18:22:03.205Z, which a float of seconds read as .204
@example(8_687_515_878_647, 0)  # 2245-04-18T22:51:18.647Z
def test_date_times_are_read_to_the_exact_millisecond(ms: int, minutes: int) -> None:
    """An ISO 8601 date-time with milliseconds, at any offset, is read as exactly its instant
    (years 1 to 9999), by the shared reading and by the events' own."""
    offset = timedelta(minutes=minutes)
    text = (EPOCH + timedelta(milliseconds=ms)).astimezone(timezone(offset)).isoformat(
        timespec="milliseconds")
    assert parse_iso(text) == ms
    if 0 <= ms <= 4_102_444_800_000:
        sign, whole = "-" if minutes < 0 else "+", abs(minutes)
        assert event_time(text, ZoneInfo("UTC"), 0) == (
            ms, f"{sign}{whole // 60:02d}:{whole % 60:02d}")


identifier = st.fixed_dictionaries({"type": st.sampled_from(["mobile", "email", "wechat"]),
                                    "value": st.sampled_from(["1", "2", "a@b.co"])})


@PROPERTY
@given(st.lists(st.lists(identifier, max_size=4), min_size=1, max_size=3))
def test_identifiers_of_all_lists_each_identifier_once_in_order(
        profiles: list[list[dict[str, str]]]) -> None:
    rows = [{"identifiers": dumps_text(p)} for p in profiles]
    got = loads(dumps(identifiers_of_all(rows)))
    want: list[dict[str, str]] = []
    for p in profiles:
        want.extend(i for i in p if i not in want)
    # one profile's list is as stored (a profile never holds an identifier twice)
    assert got == (profiles[0] if len(profiles) == 1 else want)


@examples(300)
@given(st.text(max_size=40))
def test_normalised_email_and_mobile_are_fixed_points(value: str) -> None:
    for normal in (normalize.email, normalize.mobile):
        try:
            once = normal(value)
        except ValidationFailed:
            continue
        assert normal(once) == once


@PROPERTY
@given(body=customer_body)
async def test_any_customer_body_gets_an_answer_in_the_loyalty_envelope(
        client: httpx.AsyncClient, org: Any, body: dict[str, Any]) -> None:
    r = await client.post("/v2/customers", headers=till_auth(org), json=body)
    if r.status_code != 200:
        assert_face_envelope("/v2/customers", r)


@PROPERTY
@given(body=workspace_body)
async def test_any_customer_body_gets_an_answer_in_the_workspace_envelope(
        client: httpx.AsyncClient, org: Any, body: dict[str, Any]) -> None:
    r = await client.post("/api/customers", headers=workspace_auth(org), json=body)
    if r.status_code >= 300:
        assert_face_envelope("/api/customers", r)
    else:
        assert r.json()["success"] is True
