"""The domain services one running Patron holds, built over one Database and one Clock."""

from __future__ import annotations

from dataclasses import dataclass

from patron.auth.guard import RateLimiter
from patron.auth.redis_counts import RedisCounts, SharedCounts
from patron.auth.service import AuthService
from patron.cards.service import Cards
from patron.clock import Clock
from patron.commerce.service import Commerce
from patron.config import Settings
from patron.customers.documents import CustomerDocuments
from patron.customers.fraud import Fraud
from patron.customers.images import CustomerImages
from patron.customers.privacy import PrivacyRequests
from patron.customers.service import Customers
from patron.db.database import Database
from patron.engagement.pages import KeptPages
from patron.engagement.service import Engagement
from patron.events.service import Events
from patron.groups.service import Groups
from patron.idempotency.service import Idempotency
from patron.loyalty.service import JobReport, Loyalty
from patron.segments.service import Segments
from patron.tenancy.service import Tenancy
from patron.tenancy.tills import Tills


def shared_counts(settings: Settings) -> SharedCounts | None:
    """Where the rate limit's and failed sign-ins' counts are shared between workers and hosts:
    Redis, if set."""
    return RedisCounts(settings.redis_url) if settings.redis_url else None


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    auth: AuthService
    limiter: RateLimiter
    tenancy: Tenancy
    customers: Customers
    documents: CustomerDocuments
    privacy: PrivacyRequests
    commerce: Commerce
    events: Events
    engagement: Engagement
    loyalty: Loyalty
    cards: Cards
    images: CustomerImages
    segments: Segments
    fraud: Fraud
    groups: Groups
    idempotency: Idempotency

    @classmethod
    def build(cls, settings: Settings, db: Database, clock: Clock | None = None) -> Services:
        clock = clock or Clock()
        shared = shared_counts(settings)
        auth = AuthService(db, clock, settings.credential_cache_seconds,
                           settings.credential_check_seconds, shared)
        customers = Customers(db, clock, Tills())
        events = Events(db, clock, customers)
        engagement = Engagement(db, clock, customers,
                                KeptPages(settings.interaction_pages_mb * 1024 * 1024))
        loyalty = Loyalty(db, clock)
        cards = Cards(db, clock)
        customers.cards = cards
        segments = Segments(db, clock, customers)
        fraud = Fraud(db, clock, customers.tills)
        groups = Groups(db, clock, customers, loyalty)
        return cls(settings=settings, db=db, clock=clock, auth=auth,
                   limiter=RateLimiter(settings.rate_limit_per_minute, shared),
                   tenancy=Tenancy(db, clock, auth), customers=customers,
                   documents=CustomerDocuments(db, settings.customer_documents),
                   privacy=PrivacyRequests(db, clock, customers, events, engagement, segments,
                                           fraud, groups),
                   commerce=Commerce(db, clock, loyalty, customers.tills), events=events,
                   engagement=engagement, loyalty=loyalty, cards=cards,
                   images=CustomerImages(db, clock, settings.signing_key), segments=segments,
                   fraud=fraud, groups=groups, idempotency=Idempotency(db, clock))

    async def close(self) -> None:
        """Lets go of what the services hold besides the database (the shared counts)."""
        await self.documents.close()
        self.engagement.close()
        await self.limiter.settled()
        if self.limiter.shared is not None:
            await self.limiter.shared.close()

    async def run_jobs(self, org_id: int) -> tuple[JobReport, int]:
        """The jobs time moves (`patron loyalty run`, and the server's schedule): points that
        expire, tiers that renew or downgrade, cards that expire; and the idempotency keys past
        keeping and the expired OAuth tokens are dropped. Idempotent."""
        await self.idempotency.purge(org_id)
        await self.auth.purge_expired_tokens(org_id)
        return await self.loyalty.run_jobs(org_id), await self.cards.expire_due(org_id)
