"""SQL for idempotency keys: one row per organisation and key, in flight (status 0) until the
request it guards has its answer."""

from __future__ import annotations

from patron.db.statement import sql

# A key is claimed when it is new, or its row is past keeping, or its request was left in flight
# (a process killed partway) long enough ago: RETURNING says whether this call claimed it.
CLAIM = sql(
    "INSERT INTO idempotency_keys (org_id, key, fingerprint, status, body, headers, created_at) "
    "VALUES ($1, $2, $3, 0, '', '[]', $4) "
    "ON CONFLICT (org_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = 0, "
    "body = '', headers = '[]', created_at = excluded.created_at "
    "WHERE idempotency_keys.created_at < $5 "
    "OR (idempotency_keys.status = 0 AND idempotency_keys.created_at < $6) "
    "RETURNING status"
)
GET = sql(
    "SELECT fingerprint, status, body, headers FROM idempotency_keys "
    "WHERE org_id = $1 AND key = $2"
)
COMPLETE = sql(
    "UPDATE idempotency_keys SET status = $4, body = $5, headers = $6 "
    "WHERE org_id = $1 AND key = $2 AND fingerprint = $3 AND status = 0"
)
RELEASE = sql(
    "DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND fingerprint = $3 "
    "AND status = 0"
)
PURGE = sql("DELETE FROM idempotency_keys WHERE org_id = $1 AND created_at < $2")
FORGET_ORG_ANSWERS = sql("DELETE FROM idempotency_keys WHERE org_id = $1")
