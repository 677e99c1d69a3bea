"""The loyalty engine's rules as rules: a hypothesis-drawn state machine over purchases,
returns, promotions, redemptions and their reversals, expiries and time (with the scheduled job
run or not: the model is the same either way, since what is due happens when it is due), run
through the loyalty face against a small model of the program. After every
step the ledger invariants hold (balance = open lots = ledger sum >= 0) and points, totals and
tier equal the model's.

Hypothesis' RuleBasedStateMachine cannot await, so the machine is drawn step by step with
`st.data()` inside one async test: each example is one run of the machine on a fresh customer.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given
from hypothesis import strategies as st

from patron.clock import FixedClock, iso_utc
from patron.loyalty.programs import read_program_file
from patron.loyalty.rules import DAY_MS, end_of_day
from patron.services import Services
from tests.conftest import add_customer, till_auth
from tests.exploring import examples
from tests.test_loyalty_engine import PROGRAMS

RATE = {1: 100, 2: 100, 3: 200}  # points per 1,000 currency units, by tier
THRESHOLD = {2: 100_000, 3: 300_000}  # CURRENT_POINTS, thousandths
EXPIRY_DAYS, GARNET_DAYS = 30, 60
_mobiles = itertools.count(919800000000)


@dataclass
class Lot:
    id: int
    expires: int
    remaining: int
    expired: int = 0
    bill: dict[str, Any] | None = None


@dataclass
class Model:
    now: int
    tier: int = 1
    tier_since: int = 0
    tier_expires: int | None = None
    points: int = 0
    lifetime: int = 0
    redeemed: int = 0
    expired: int = 0
    returned: int = 0
    lots: list[Lot] = field(default_factory=list)
    bills: dict[str, dict[str, Any]] = field(default_factory=dict)
    redemptions: list[tuple[int, list[tuple[Lot, int]]]] = field(default_factory=list)
    moves: list[tuple[int, int, int]] = field(default_factory=list)  # (at, amount, visits)
    ids: Any = field(default_factory=itertools.count)

    def credit(self, points: int, expires: int) -> Lot:
        lot = Lot(next(self.ids), expires, points)
        if points:
            self.lots.append(lot)
        self.points += points
        self.lifetime += points
        self.upgrade()
        return lot

    def upgrade(self) -> None:
        """After a credit: the highest tier the balance reaches, if above the current one."""
        reached = max([1, *(t for t, v in THRESHOLD.items() if self.points >= v)])
        if reached > self.tier:
            self.tier, self.tier_since = reached, self.now
            self.tier_expires = end_of_day(self.now + GARNET_DAYS * DAY_MS) \
                if reached == 3 else None

    def debit(self, points: int, first: Lot | None = None) -> list[tuple[Lot, int]]:
        """Takes points, `first` first, then the earliest expiry; returns what it took of each
        lot (less than `points` only when the balance is)."""
        order = sorted(self.lots, key=lambda lot: (lot is not first, lot.expires, lot.id))
        left, took = points, []
        for lot in order:
            take = min(left, lot.remaining)
            if take:
                lot.remaining -= take
                left -= take
                took.append((lot, take))
        self.points -= points - left
        return took

    @staticmethod
    def owed(bill: dict[str, Any]) -> int:
        """What the bill's returns still take back: the returned share of its points that did
        not expire (all of them once it is wholly returned), less what they took."""
        kept = bill["earned"] - bill["lot"].expired
        share = kept if bill["returned"] >= bill["amount"] else \
            kept * bill["returned"] // bill["amount"]
        return max(share - bill["taken"], 0)

    def reverse(self, took: list[tuple[Lot, int]]) -> None:
        """Gives a redemption's points back, each to its lot; a returned bill's lot first pays
        what the bill's returns could not take."""
        for lot, give in reversed(took):
            settle = min(give, self.owed(lot.bill)) if lot.bill and lot.bill["returned"] else 0
            lot.remaining += give - settle
            if settle:
                lot.bill["taken"] += settle
                self.returned += settle
            self.points += give - settle
            self.redeemed -= give
        self.expire_due()  # what went back to a lot whose day is over
        self.upgrade()  # points given back are a credit too (docs/loyalty.md)

    def expire_due(self) -> None:
        """Lots whose day is over expire: at once, whether or not the job has run."""
        for lot in [lot for lot in self.lots if lot.expires <= self.now and lot.remaining]:
            self.expired += lot.remaining
            self.points -= lot.remaining
            lot.expired += lot.remaining
            lot.remaining = 0

    def time_passes(self) -> None:
        """What is due happens when it is due, whether or not the job runs: lots whose day is
        over expire, and a tier whose period ended renews or downgrades, each period by its
        rule, the next period beginning as the last one ended."""
        self.expire_due()
        while self.tier_expires is not None and self.tier_expires <= self.now:
            inside = [m for m in self.moves if self.tier_since <= m[0] <= self.tier_expires]
            self.tier_since = self.tier_expires + 1
            if sum(m[1] for m in inside) >= 1_000_000 and sum(m[2] for m in inside) >= 2:
                self.tier_expires += GARNET_DAYS * DAY_MS
            else:
                self.tier, self.tier_expires = 2, None


steps = st.one_of(
    st.tuples(st.just("buy"), st.integers(1, 5000)),
    st.tuples(st.just("return"), st.integers(0, 20), st.booleans(), st.integers(1, 5000)),
    st.tuples(st.just("redeem"), st.integers(1, 400)),
    st.tuples(st.just("reverse"), st.integers(0, 5)),
    st.tuples(st.just("promote"), st.integers(1, 150), st.integers(1, 40)),
    st.tuples(st.just("wait"), st.integers(1, 45)),
    st.tuples(st.just("idle"), st.integers(1, 45)),  # time passes, the job does not run
)


@examples(30, HealthCheck.too_slow)
@given(program=st.lists(steps, min_size=5, max_size=25))
# Found by an exploratory run: a reversal bringing the balance to Garnet's threshold upgrades.
@example(program=[("promote", 37, 1), ("promote", 150, 1), ("redeem", 1), ("buy", 1130),
                  ("reverse", 0)])
# Garnet's period ends with no job run: the bill after it earns at Coral's rate, and the job
# then changes nothing.
@example(program=[("promote", 150, 40), ("promote", 150, 40), ("idle", 45), ("idle", 20),
                  ("buy", 1000), ("wait", 1)])
async def test_engine_follows_its_rules(client: httpx.AsyncClient, services: Services, org: Any,
                                        clock: FixedClock, program: list[tuple]) -> None:
    await services.loyalty.apply_programs(org.org_id, read_program_file(PROGRAMS))
    headers = till_auth(org)
    mobile = str(next(_mobiles))
    customer_id = await add_customer(client, headers, identifiers=[
        {"type": "mobile", "value": mobile}])
    model = Model(now=clock.now_ms())
    where = f"/v2/transactions?source=INSTORE&identifierName=mobile&identifierValue={mobile}"
    for n, step in enumerate(program):
        model.now = clock.now_ms()
        if step[0] == "buy":
            amount = step[1] * 1000
            r = await client.post(where, headers=headers, json={
                "type": "REGULAR", "billNumber": f"{mobile}-{n}", "billAmount": step[1]})
            assert r.status_code == 200, r.text
            earned = amount * RATE[model.tier] // 1000 // 1000 * 1000
            lot = model.credit(earned, end_of_day(model.now + EXPIRY_DAYS * DAY_MS))
            model.bills[f"{mobile}-{n}"] = lot.bill = {
                "amount": amount, "returned": 0, "earned": earned, "taken": 0, "lot": lot}
            model.moves.append((model.now, amount, 1))
        elif step[0] == "return" and model.bills:
            bill_no = sorted(model.bills)[step[1] % len(model.bills)]
            bill = model.bills[bill_no]
            left = bill["amount"] - bill["returned"]
            full = step[2] or left <= 1000
            amount = left if full else min(step[3] * 1000, left - 1000)
            body = {"type": "RETURN", "billNumber": bill_no,
                    "returnType": "FULL" if full else "AMOUNT", "billAmount": amount / 1000}
            r = await client.post(where, headers=headers, json=body)
            if left <= 0:
                assert r.status_code == 400 and r.json()["errors"][0]["code"] == 633
                continue
            assert r.status_code == 200, r.text
            bill["returned"] += amount
            taken = sum(take for _, take in model.debit(model.owed(bill), bill["lot"]))
            bill["taken"] += taken
            model.returned += taken
            model.moves.append((model.now, -amount, 0))
        elif step[0] == "redeem":
            r = await client.post("/v1.1/points/redeem", headers=headers, json={
                "root": {"redeem": [{"points_redeemed": step[1],
                                     "customer": {"mobile": mobile}}]}})
            if step[1] * 1000 > model.points:
                assert r.status_code == 500
                assert r.json()["response"]["responses"]["points"]["item_status"]["code"] == 803
            else:
                assert r.status_code == 200, r.text
                redemption_id = r.json()["response"]["responses"]["points"]["redemption_id"]
                model.redemptions.append((redemption_id, model.debit(step[1] * 1000)))
                model.redeemed += step[1] * 1000
        elif step[0] == "reverse" and model.redemptions:
            redemption_id, took = model.redemptions.pop(step[1] % len(model.redemptions))
            r = await client.post("/v2/points/reverse", headers=headers,
                                  json={"redemptionId": redemption_id})
            assert r.status_code == 200, r.text
            model.reverse(took)
        elif step[0] == "promote":
            expires = end_of_day(model.now + step[2] * DAY_MS)
            r = await client.post("/v2/loyalty/promotionalPoints", headers=headers, json={
                "identifierName": "mobile", "identifierValue": mobile, "points": step[1],
                "promotionName": "bonus", "expiryDate": iso_utc(expires)})
            assert r.status_code == 200, r.text
            model.credit(step[1] * 1000, expires)  # the end of the day named
        elif step[0] == "wait":
            clock.advance(step[1] * DAY_MS)
            model.now = clock.now_ms()
            await services.loyalty.run_jobs(org.org_id)
            model.time_passes()
        elif step[0] == "idle":
            clock.advance(step[1] * DAY_MS)
            model.now = clock.now_ms()
            model.time_passes()  # the job does not run: reads and writes act as if it had
        for program_id in (7, 8):
            await services.loyalty.check_ledger(org.org_id, customer_id, program_id)
        r = await client.get(f"/v2/customers/{customer_id}?source=INSTORE&embed=points",
                             headers=headers)
        summary = r.json()["pointsSummary"]
        assert (summary["loyaltyPoints"], summary["lifetimePoints"], summary["redeemed"],
                summary["expired"], summary["returned"], summary["slabSNo"]) == (
            model.points / 1000, model.lifetime / 1000, model.redeemed / 1000,
            model.expired / 1000, model.returned / 1000, model.tier), (step, model)
