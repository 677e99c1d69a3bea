"""The schema of record, as SQLAlchemy Core tables; Alembic migrations are generated from it.

Conventions: every table carries `org_id` and every key and index leads with it (tenancy, and
distribution by `org_id` on Citus), except the two credential look-ups that find the
organisation in the first place. Instants are BIGINT epoch milliseconds, UTC. Money is BIGINT in
thousandths of the currency unit (exact; Capillary shows three decimals). Structured values
(identifiers, channels, custom fields) are JSON text.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    text,
)

metadata = MetaData()

ID_SEQUENCE = "patron_ids"
ID_SEQUENCE_START = 1_000_000_000


def _org() -> Column:
    return Column("org_id", BigInteger, nullable=False)


orgs = Table(
    "orgs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", Text, nullable=False),
    Column("time_zone", Text, nullable=False, server_default="UTC"),
    Column("settings", Text, nullable=False, server_default="{}"),
    Column("created_at", BigInteger, nullable=False),
)

# Store-wide counters. On SQLite, which has no sequences, 'patron_ids' stands in for
# PostgreSQL's `patron_ids`; on both, 'credential_changes' counts revocations and rotations
# (auth/repository.py).
id_counters = Table(
    "id_counters",
    metadata,
    Column("name", Text, primary_key=True),
    Column("next_value", BigInteger, nullable=False),
)

sites = Table(
    "sites",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("title", Text, nullable=False),
    Column("url", Text, nullable=False, server_default=""),
    Column("subdomain", Text, nullable=False, server_default=""),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "id"),
)

tills = Table(
    "tills",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("code", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("type", Text, nullable=False, server_default="TILL"),
    Column("description", Text, nullable=False, server_default=""),
    Column("reference_id", BigInteger, nullable=False, server_default="-1"),
    Column("admin_type", Text, nullable=False, server_default="GENERAL"),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    Column("is_ou_enabled", Boolean, nullable=False, server_default=text("false")),
    Column("time_zone_id", Integer, nullable=False, server_default="191"),
    Column("currency_id", Integer, nullable=False, server_default="95"),
    Column("language_id", Integer, nullable=False, server_default="148"),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "id"),
    Index("tills_code", "org_id", "code", unique=True),
)

credentials = Table(
    "credentials",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    # till | loyalty_client | marketing_client | workspace_key
    Column("kind", Text, nullable=False),
    Column("name", Text, nullable=False, server_default=""),
    # What a client presents to be found: till code, client key/id, or SHA-256 of an API key.
    Column("lookup_key", Text, nullable=False),
    Column("secret_hash", Text, nullable=True),
    Column("hint", Text, nullable=False, server_default=""),
    Column("scopes", Text, nullable=False, server_default=""),
    Column("till_id", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    PrimaryKeyConstraint("org_id", "id"),
    Index("credentials_lookup", "kind", "lookup_key", unique=True),
)

oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    _org(),
    Column("credential_id", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),  # access | refresh
    Column("face", Text, nullable=False),
    Column("pair_hash", Text, nullable=True),  # the other token of the same grant
    Column("expires_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Index("oauth_tokens_credential", "org_id", "credential_id"),
)

customers = Table(
    "customers",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("status", Text, nullable=False, server_default="active"),  # active|merged|deleted
    Column("site_id", BigInteger, nullable=True),
    Column("external_id", Text, nullable=True),
    Column("loyalty_type", Text, nullable=False, server_default="non_loyalty"),
    Column("associated_till_id", BigInteger, nullable=True),
    Column("extended_fields", Text, nullable=False, server_default="{}"),
    # Derived from the primary profile, for listing, sorting and search across faces.
    Column("name", Text, nullable=False, server_default=""),
    Column("email", Text, nullable=True),
    Column("mobile", Text, nullable=True),
    Column("search_text", Text, nullable=False, server_default=""),
    # Marketing (Kajabi) and workspace (Linquid) attributes.
    Column("avatar", Text, nullable=True),
    Column("public_bio", Text, nullable=True),
    Column("public_location", Text, nullable=True),
    Column("public_website", Text, nullable=True),
    Column("socials", Text, nullable=True),
    Column("click_id", Text, nullable=True),
    Column("metadata", Text, nullable=False, server_default="{}"),
    Column("image_url", Text, nullable=True),
    # Fraud status (includedFraudDetails): MARKED | CONFIRMED | RECONFIRMED | NOT_FRAUD | INTERNAL.
    Column("fraud_status", Text, nullable=True),
    Column("fraud_marked_by", BigInteger, nullable=True),
    Column("fraud_modified_at", BigInteger, nullable=True),
    # Loyalty enrolment attribution (loyaltyInfo.attributionV2).
    Column("loyalty_created_at", BigInteger, nullable=True),
    Column("loyalty_created_by", BigInteger, nullable=True),
    Column("loyalty_modified_at", BigInteger, nullable=True),
    Column("loyalty_modified_by", BigInteger, nullable=True),
    Column("created_from_source", Text, nullable=True),
    Column("loyalty_score", Integer, nullable=True),
    Column("ndnc_status", Text, nullable=False, server_default="NONE"),
    Column("optin_status", Text, nullable=False, server_default="NONE"),
    # Derived from transactions, never typed in.
    Column("lifetime_purchases", BigInteger, nullable=False, server_default="0"),
    Column("net_revenue", BigInteger, nullable=False, server_default="0"),
    Column("sign_in_count", Integer, nullable=False, server_default="0"),
    Column("last_request_at", BigInteger, nullable=True),
    Column("bounced_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    Column("deleted_at", BigInteger, nullable=True),
    Column("pii_deleted_at", BigInteger, nullable=True),
    # Counts the changes to the customer and to everything its details show, moved by triggers
    # (migration 0011), whichever code path writes: a kept document of another count is stale.
    Column("version", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("org_id", "id"),
    Index("customers_created", "org_id", "status", "created_at", "id"),
    Index("customers_external_id", "org_id", "external_id", unique=True),
    # Which of a batch's customer ids are active (events by userId, imports), read from this
    # index alone instead of one wide customer row each.
    Index("customers_state", "org_id", "id", "status"),
)

# Each customer's details as the loyalty face renders them by default, kept from a read until
# anything they show changes: the triggers of migration 0011 delete the row in the transaction
# of the change (docs/operations.md, "Customer documents"). `renderer` names the code that
# rendered it; `sources` the customer's profile sources, for the read's source check.
customer_documents = Table(
    "customer_documents",
    metadata,
    _org(),
    Column("customer_id", BigInteger, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("renderer", Text, nullable=False),
    Column("sources", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    # The engine's parts of one details query, and when they hold (migration 0013).
    Column("parts_key", Text),
    Column("parts_from", BigInteger),
    Column("parts_until", BigInteger),
    Column("parts", LargeBinary),
    PrimaryKeyConstraint("org_id", "customer_id"),
)

profiles = Table(
    "profiles",
    metadata,
    _org(),
    Column("customer_id", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("account_id", Text, nullable=False, server_default=""),
    Column("first_name", Text, nullable=True),
    Column("last_name", Text, nullable=True),
    Column("identifiers", Text, nullable=False, server_default="[]"),
    Column("comm_channels", Text, nullable=False, server_default="[]"),
    Column("fields", Text, nullable=False, server_default="{}"),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", BigInteger, nullable=True),
    Column("modified_at", BigInteger, nullable=False),
    Column("modified_by", BigInteger, nullable=True),
    Column("auto_update_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "customer_id", "source", "account_id"),
)

# The registry that makes an identifier unique per organisation and resolves it to a customer.
identifiers = Table(
    "identifiers",
    metadata,
    _org(),
    Column("type", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("source", Text, nullable=False),
    Column("account_id", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("org_id", "type", "value"),
    Index("identifiers_customer", "org_id", "customer_id"),
)

transactions = Table(
    "transactions",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("type", Text, nullable=False),  # REGULAR | RETURN
    Column("bill_number", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("billed_at", BigInteger, nullable=False),
    Column("till_id", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("source", Text, nullable=False, server_default="INSTORE"),
    Column("return_type", Text, nullable=True),  # AMOUNT | FULL | LINE_ITEM | CANCELLED
    Column("original_id", BigInteger, nullable=True),  # a return's bill
    Column("gross_amount", BigInteger, nullable=True),
    Column("discount", BigInteger, nullable=False, server_default="0"),
    Column("line_items", Text, nullable=False, server_default="[]"),
    Column("line_count", Integer, nullable=False, server_default="0"),
    Column("returned_amount", BigInteger, nullable=False, server_default="0"),
    Column("notes", Text, nullable=False, server_default=""),
    Column("extended_fields", Text, nullable=False, server_default="{}"),
    # Whether the bill reached the loyalty programs: false for a non_loyalty customer's bills
    # (Capillary's NOT_INTERESTED), which earn nothing, and for their returns.
    Column("in_loyalty", Boolean, nullable=False, server_default=text("true")),
    PrimaryKeyConstraint("org_id", "id"),
    Index("transactions_customer", "org_id", "customer_id", "billed_at"),
    # A bill number is accepted once; its returns carry the same number.
    Index("transactions_regular_bill", "org_id", "bill_number", unique=True,
          sqlite_where=text("type = 'REGULAR'"), postgresql_where=text("type = 'REGULAR'")),
    Index("transactions_original", "org_id", "original_id"),
)

requests = Table(
    "requests",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("type", Text, nullable=False),
    Column("base_type", Text, nullable=False),
    Column("status", Text, nullable=False),  # PENDING|APPROVED|REJECTED|CANCELLED
    Column("comments", Text, nullable=False, server_default=""),
    Column("customer_id", BigInteger, nullable=False),
    Column("identification", Text, nullable=False, server_default="{}"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "id"),
    Index("requests_customer", "org_id", "customer_id"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    _org(),
    Column("key", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("headers", Text, nullable=False, server_default="[]"),
    PrimaryKeyConstraint("org_id", "key"),
)

# -- behavioural events (issue 5) -------------------------------------------------------------

event_definitions = Table(
    "event_definitions",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("actions", Text, nullable=False, server_default="[]"),
    # [{name, type, attributes: {name: {valueType, value}}}] exactly as the client declared them.
    Column("fields", Text, nullable=False, server_default="[]"),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "id"),
    Index("event_definitions_name", "org_id", "name", unique=True),
)

event_webhooks = Table(
    "event_webhooks",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    # SHA-256 of the URI's secret part: the URI itself is shown once.
    Column("token_hash", Text, nullable=False),
    Column("transformer_type", Text, nullable=False),
    Column("till_id", BigInteger, nullable=True),
    Column("auth_enabled", Boolean, nullable=False),
    Column("auth_mechanism", Text, nullable=True),
    Column("uniqueness_check", Boolean, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "id"),
    Index("event_webhooks_token", "token_hash", unique=True),
)

events = Table(
    "events",
    metadata,
    _org(),
    Column("request_id", Text, nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("event_name", Text, nullable=False),
    Column("occurred_at", BigInteger, nullable=False),
    Column("input_offset", Text, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("lineage_start", BigInteger, nullable=False),
    Column("till_id", BigInteger, nullable=True),
    Column("source", Text, nullable=False),
    Column("attributes", Text, nullable=False, server_default="{}"),
    Column("psi_fields", Text, nullable=False, server_default="[]"),
    Column("external_event_id", Text, nullable=True),
    Column("dedup_key", Text, nullable=True),
    Column("is_duplicate", Boolean, nullable=False),
    PrimaryKeyConstraint("org_id", "request_id"),
    Index("events_customer_time", "org_id", "customer_id", "occurred_at"),
    # One original per de-duplication key; repeats are stored with is_duplicate = true.
    Index("events_original", "org_id", "event_name", "dedup_key", unique=True,
          sqlite_where=text("NOT is_duplicate AND dedup_key IS NOT NULL"),
          postgresql_where=text("NOT is_duplicate AND dedup_key IS NOT NULL")),
)

# -- communications and engagement (issue 4) --------------------------------------------------

messages = Table(
    "messages",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    # The client's id for the record that created the message: a repeat of it is not stored again.
    Column("record_id", Text, nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("direction", Text, nullable=False),  # OUTBOUND | INBOUND
    Column("channel", Text, nullable=False),  # sms, email, whatsapp, ... (engagement.models)
    Column("network", Text, nullable=False, server_default="capillary"),
    Column("priority", Text, nullable=False, server_default="TRANS"),  # TRANS | BULK
    Column("sender", Text, nullable=False, server_default=""),
    Column("receiver", Text, nullable=False, server_default=""),
    Column("subject", Text, nullable=False, server_default=""),
    Column("body", Text, nullable=False, server_default=""),
    Column("campaign_id", Text, nullable=True),
    Column("broadcast_id", Text, nullable=True),
    Column("newsletter_id", Text, nullable=True),
    Column("sequence_id", Text, nullable=True),
    Column("is_otp", Boolean, nullable=False, server_default=text("false")),
    Column("sent_at", BigInteger, nullable=False),
    # The first time of each delivery event (message_events), so that the status does not
    # depend on the order events arrive in.
    Column("delivered_at", BigInteger, nullable=True),
    Column("opened_at", BigInteger, nullable=True),
    Column("clicked_at", BigInteger, nullable=True),
    Column("bounced_at", BigInteger, nullable=True),
    Column("bounce_type", Text, nullable=True),  # hard | soft (the first bounce's)
    Column("dropped_at", BigInteger, nullable=True),
    Column("complained_at", BigInteger, nullable=True),
    Column("unsubscribed_at", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "id"),
    Index("messages_record", "org_id", "record_id", unique=True),
    # A customer's messages per network and channel in the interaction APIs' order (newest
    # first, ties by id), so that a page is read from the index without sorting.
    Index("messages_customer", "org_id", "customer_id", "network", "channel", "sent_at", "id"),
)

# Per customer, network, channel and priority: what the interaction reads summarise, kept as
# messages and delivery events are written so that reading it costs the same for ten messages as
# for a million. first_time and last_time bound the times (sent or delivered) its messages show:
# first_time exactly, last_time from above (a delivered time an earlier one replaced stays).
message_summaries = Table(
    "message_summaries",
    metadata,
    _org(),
    Column("customer_id", BigInteger, nullable=False),
    Column("network", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("priority", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("last_at", BigInteger, nullable=False),  # the latest sent_at
    Column("used", Integer, nullable=False, server_default="0"),  # 1: one was opened or clicked
    Column("first_time", BigInteger, nullable=False),
    Column("last_time", BigInteger, nullable=False),
    # Moved by every write to the messages counted here, of a message or of a delivery event on
    # one, and by the PII scrub: a page of them kept in memory (engagement/pages.py) is sent
    # again only while the revisions it was read under are the same.
    Column("revision", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("org_id", "customer_id", "network", "channel", "priority"),
    # On SQLite, rows stored in the key's B-tree: each write changes one B-tree, not two.
    sqlite_with_rowid=False,
)

# Every delivery event as it arrived; a repeat of the same (message, kind, time) is a no-op.
message_events = Table(
    "message_events",
    metadata,
    _org(),
    Column("message_id", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("occurred_at", BigInteger, nullable=False),
    Column("bounce_type", Text, nullable=True),
    PrimaryKeyConstraint("org_id", "message_id", "kind", "occurred_at"),
)

# Capillary's subscription state: one row per customer, channel and priority; the latest change
# (by its own time, not arrival) wins.
subscriptions = Table(
    "subscriptions",
    metadata,
    _org(),
    Column("customer_id", BigInteger, nullable=False),
    Column("channel", Text, nullable=False),
    Column("priority", Text, nullable=False),
    Column("status", Text, nullable=False),  # OPTIN | OPTOUT
    Column("source", Text, nullable=False, server_default="INSTORE"),
    Column("account_id", Text, nullable=False, server_default=""),
    Column("reason", Text, nullable=False, server_default=""),
    Column("changed_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "customer_id", "channel", "priority"),
)

# Per customer: e-mail subscription times, suppression, and the latest delivery facts that
# engagement health is derived from.
customer_engagement = Table(
    "customer_engagement",
    metadata,
    _org(),
    Column("customer_id", BigInteger, nullable=False),
    Column("subscribed_at", BigInteger, nullable=True),
    Column("unsubscribed_at", BigInteger, nullable=True),
    Column("manually_unsubscribed_at", BigInteger, nullable=True),
    Column("opted_out_at", BigInteger, nullable=True),
    Column("suppressed_at", BigInteger, nullable=True),
    Column("unsuppressed_at", BigInteger, nullable=True),
    Column("complained_at", BigInteger, nullable=True),
    Column("last_delivered_at", BigInteger, nullable=True),
    Column("last_opened_at", BigInteger, nullable=True),
    Column("last_clicked_at", BigInteger, nullable=True),
    PrimaryKeyConstraint("org_id", "customer_id"),
)

# Tags, forms, event registrations, assessments, offers, coupons, newsletters, e-mail sequences,
# sign-ins and requests: one row per record; a fact's current state is its latest row.
engagement_facts = Table(
    "engagement_facts",
    metadata,
    _org(),
    Column("record_id", Text, nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),
    Column("ref_id", Text, nullable=False, server_default=""),
    Column("state", Text, nullable=False, server_default=""),
    Column("occurred_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "record_id"),
    Index("engagement_facts_ref", "org_id", "kind", "ref_id", "customer_id", "occurred_at"),
    Index("engagement_facts_customer", "org_id", "customer_id", "kind", "occurred_at"),
)


# Loyalty programs as applied from a program file: `definition` is the validated program (JSON),
# read by the engine's rules. History rows carry their own values, so a new definition never
# rewrites what already happened.
loyalty_programs = Table(
    "loyalty_programs",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("is_default", Boolean, nullable=False, server_default=text("false")),
    Column("definition", Text, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "id"),
)

# A customer's standing in one program: the running totals every read returns, kept by each
# write so that reads cost the same however long the history. Points are in thousandths.
loyalty_members = Table(
    "loyalty_members",
    metadata,
    _org(),
    Column("customer_id", BigInteger, nullable=False),
    Column("program_id", BigInteger, nullable=False),
    Column("tier", Integer, nullable=False, server_default="1"),  # serial number, 1 = base
    Column("tier_since", BigInteger, nullable=False),
    Column("tier_expires_at", BigInteger, nullable=True),
    Column("points", BigInteger, nullable=False, server_default="0"),
    Column("lifetime_points", BigInteger, nullable=False, server_default="0"),
    Column("promotional_points", BigInteger, nullable=False, server_default="0"),
    Column("redeemed_points", BigInteger, nullable=False, server_default="0"),
    Column("expired_points", BigInteger, nullable=False, server_default="0"),
    Column("returned_points", BigInteger, nullable=False, server_default="0"),
    Column("adjusted_points", BigInteger, nullable=False, server_default="0"),
    Column("cumulative_purchases", BigInteger, nullable=False, server_default="0"),
    Column("visits", Integer, nullable=False, server_default="0"),
    Column("joined_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "customer_id", "program_id"),
    Index("loyalty_members_tier_expiry", "org_id", "tier_expires_at"),
)

# Each credit of points is a lot with its own expiry; debits (redemptions, returns, negative
# adjustments) take from lots, earliest expiry first. Open lots sum to the member's points.
points_lots = Table(
    "points_lots",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("program_id", BigInteger, nullable=False),
    Column("kind", Text, nullable=False),  # REGULAR | PROMOTIONAL | ADJUSTMENT
    Column("points", BigInteger, nullable=False),
    Column("remaining", BigInteger, nullable=False),
    Column("earned_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=True),  # none: never
    Column("transaction_id", BigInteger, nullable=True),
    Column("promotion_name", Text, nullable=True),
    Column("promotion_source_type", Text, nullable=True),
    Column("promotion_source_id", Text, nullable=True),
    Column("till_id", BigInteger, nullable=True),
    # Points of this lot that expired: what a return of its bill no longer takes back.
    Column("expired", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("org_id", "id"),
    Index("points_lots_member", "org_id", "customer_id", "program_id", "expires_at", "id",
          sqlite_where=text("remaining > 0"), postgresql_where=text("remaining > 0")),
    Index("points_lots_due", "org_id", "expires_at",
          sqlite_where=text("remaining > 0"), postgresql_where=text("remaining > 0")),
    Index("points_lots_transaction", "org_id", "transaction_id"),
)

# Every movement of points, signed; per member it sums to the balance.
points_ledger = Table(
    "points_ledger",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("program_id", BigInteger, nullable=False),
    # EARN | PROMOTION | REDEEM | REDEEM_REVERSAL | RETURN | EXPIRE | ADJUST
    Column("kind", Text, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("lot_id", BigInteger, nullable=True),
    Column("transaction_id", BigInteger, nullable=True),
    Column("redemption_id", BigInteger, nullable=True),
    Column("at", BigInteger, nullable=False),
    Column("till_id", BigInteger, nullable=True),
    Column("notes", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("org_id", "id"),
    Index("points_ledger_member", "org_id", "customer_id", "program_id", "kind", "at"),
    Index("points_ledger_transaction", "org_id", "transaction_id"),
    Index("points_ledger_redemption", "org_id", "redemption_id"),
)

redemptions = Table(
    "redemptions",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("program_id", BigInteger, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("reversed_points", BigInteger, nullable=False, server_default="0"),
    Column("bill_number", Text, nullable=False, server_default=""),
    Column("notes", Text, nullable=False, server_default=""),
    Column("redeemed_at", BigInteger, nullable=False),
    Column("till_id", BigInteger, nullable=True),
    PrimaryKeyConstraint("org_id", "id"),
    Index("redemptions_customer", "org_id", "customer_id", "redeemed_at"),
)

# slabHistory: every tier change, with the names and expiry dates as they were.
tier_changes = Table(
    "tier_changes",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("program_id", BigInteger, nullable=False),
    Column("type", Text, nullable=False),  # UPGRADE | DOWNGRADE | RENEWAL
    Column("from_tier", Text, nullable=False),
    Column("to_tier", Text, nullable=False),
    Column("from_expires_at", BigInteger, nullable=True),
    Column("to_expires_at", BigInteger, nullable=True),
    Column("changed_at", BigInteger, nullable=False),
    Column("notes", Text, nullable=False, server_default=""),
    Column("till_id", BigInteger, nullable=True),
    PrimaryKeyConstraint("org_id", "id"),
    Index("tier_changes_customer", "org_id", "customer_id", "changed_at"),
)


# -- cards ------------------------------------------------------------------------------------

card_series = Table(
    "card_series",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("code", Text, nullable=False),
    Column("name", Text, nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    Column("type", Text, nullable=False),  # DIGITAL | PHYSICAL
    Column("expiry_days", Integer, nullable=True),
    Column("card_expiry_enabled", Boolean, nullable=False, server_default=text("true")),
    Column("max_active_cards", Integer, nullable=False, server_default="0"),  # 0: no limit
    Column("generation_enabled", Boolean, nullable=False, server_default=text("false")),
    Column("generation_method", Text, nullable=False, server_default="DEFAULT"),
    Column("prefix", Text, nullable=False, server_default=""),
    Column("suffix", Text, nullable=False, server_default=""),
    Column("number_length", Integer, nullable=True),
    Column("next_number", BigInteger, nullable=False, server_default="1"),
    Column("is_active", Boolean, nullable=False, server_default=text("true")),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", BigInteger, nullable=True),
    Column("updated_at", BigInteger, nullable=False),
    Column("updated_by", BigInteger, nullable=True),
    PrimaryKeyConstraint("org_id", "id"),
    Index("card_series_code", "org_id", "code", unique=True),
)

# An organisation's own card status labels; the built-in ones (the statuses' names) are not rows.
card_labels = Table(
    "card_labels",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("label", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "id"),
    Index("card_labels_label", "org_id", "label", unique=True),
)

cards = Table(
    "cards",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("series_id", BigInteger, nullable=False),
    Column("card_number", Text, nullable=False),
    Column("card_external_id", Text, nullable=True),
    Column("customer_id", BigInteger, nullable=True),
    Column("label", Text, nullable=False),
    Column("status", Text, nullable=False),  # NOT_ISSUED | ACTIVE | SUSPENDED | EXPIRED | DELETED
    Column("status_log_id", BigInteger, nullable=False),
    Column("status_reason", Text, nullable=False, server_default=""),
    Column("status_changed_at", BigInteger, nullable=False),
    Column("issued_at", BigInteger, nullable=True),
    Column("expires_at", BigInteger, nullable=True),
    Column("custom_fields", Text, nullable=False, server_default="{}"),
    Column("extended_fields", Text, nullable=False, server_default="{}"),
    Column("mapped_till_id", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", BigInteger, nullable=True),
    PrimaryKeyConstraint("org_id", "id"),
    Index("cards_number", "org_id", "card_number", unique=True),
    Index("cards_external_id", "org_id", "card_external_id", unique=True),
    Index("cards_customer", "org_id", "customer_id"),
    Index("cards_expiry", "org_id", "expires_at"),
)

card_status_log = Table(
    "card_status_log",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("card_id", BigInteger, nullable=False),
    Column("label", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("reason", Text, nullable=False, server_default=""),
    Column("at", BigInteger, nullable=False),
    Column("till_id", BigInteger, nullable=True),
    PrimaryKeyConstraint("org_id", "id"),
    Index("card_status_log_card", "org_id", "card_id", "id"),
)

# -- user groups (group loyalty, Capillary's userGroup2) ---------------------------------------

user_groups = Table(
    "user_groups",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("external_id", Text, nullable=False),
    Column("name", Text, nullable=False, server_default=""),
    Column("max_size", Integer, nullable=False),
    Column("status", Text, nullable=False, server_default="ACTIVE"),  # ACTIVE | INACTIVE | DELETED
    Column("extended_fields", Text, nullable=False, server_default="{}"),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", BigInteger, nullable=True),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "id"),
    Index("user_groups_external_id", "org_id", "external_id", unique=True),
)

user_group_members = Table(
    "user_group_members",
    metadata,
    _org(),
    Column("group_id", BigInteger, nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("primary_member", Boolean, nullable=False, server_default=text("false")),
    Column("default_group", Boolean, nullable=False, server_default=text("false")),
    Column("permissions", Text, nullable=False, server_default="[]"),
    Column("joined_at", BigInteger, nullable=False),
    Column("left_at", BigInteger, nullable=True),  # set when the member leaves; a row is kept
    Column("added_by", BigInteger, nullable=True),
    PrimaryKeyConstraint("org_id", "group_id", "customer_id"),
    Index("user_group_members_customer", "org_id", "customer_id", "joined_at"),
)

# -- segments ----------------------------------------------------------------------------------

segments = Table(
    "segments",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("partitions", Text, nullable=False, server_default="[]"),  # ordered partition names
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "id"),
    Index("segments_name", "org_id", "name", unique=True),
)

# A customer is in at most one partition of each segment.
segment_members = Table(
    "segment_members",
    metadata,
    _org(),
    Column("customer_id", BigInteger, nullable=False),
    Column("segment_id", BigInteger, nullable=False),
    Column("partition", Text, nullable=False),
    Column("assigned_at", BigInteger, nullable=False),
    PrimaryKeyConstraint("org_id", "customer_id", "segment_id"),
    Index("segment_members_partition", "org_id", "segment_id", "partition"),
)

# -- images ------------------------------------------------------------------------------------

# Customer images (embed=customerImage) and associated card barcode images
# (embed=associatedImages); the bytes live in the database so that backups hold them.
customer_images = Table(
    "customer_images",
    metadata,
    _org(),
    Column("id", BigInteger, nullable=False),
    Column("customer_id", BigInteger, nullable=False),
    Column("namespace", Text, nullable=False),  # customerImage | associatedImages
    Column("handle", Text, nullable=False),
    Column("position", Integer, nullable=False),
    Column("card_id", BigInteger, nullable=True),
    Column("content_type", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    Column("created_at", BigInteger, nullable=False),
    Column("created_by", BigInteger, nullable=True),
    PrimaryKeyConstraint("org_id", "id"),
    Index("customer_images_customer", "org_id", "customer_id", "namespace", "position"),
    Index("customer_images_handle", "org_id", "handle", unique=True),
)

# Server-wide secrets that every server must share (the image-URL signing key).
server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", Text, primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
