"""SQL for idempotency keys: one row per organisation and key. Its status: 0 in flight, nothing
written yet; 1 in flight, something written (MARK_WRITTEN, run by the request's own write
transactions); 2 finished, written, no answer kept (MARK_UNANSWERED); else the HTTP status of the
kept answer (service.py names them)."""

from __future__ import annotations

from patron.db.statement import sql

# A key is claimed when it is new, or its row is past keeping, or its request was left in flight
# without having written anything (a process killed partway) long enough ago: RETURNING says
# whether this call claimed it.
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
    "SELECT fingerprint, status, body, headers, created_at FROM idempotency_keys "
    "WHERE org_id = $1 AND key = $2"
)
# Run by every write transaction of the request that holds the key, before it commits.
MARK_WRITTEN = sql(
    "UPDATE idempotency_keys SET status = 1 WHERE org_id = $1 AND key = $2 AND fingerprint = $3 "
    "AND status = 0"
)
# $7: keep the answer even when nothing was written (a success).
COMPLETE = sql(
    "UPDATE idempotency_keys SET status = $4, body = $5, headers = $6 "
    "WHERE org_id = $1 AND key = $2 AND fingerprint = $3 "
    "AND (status = 1 OR (status = 0 AND $7::boolean))",
    sqlite="UPDATE idempotency_keys SET status = $4, body = $5, headers = $6 "
    "WHERE org_id = $1 AND key = $2 AND fingerprint = $3 "
    "AND (status = 1 OR (status = 0 AND $7))",
)
RELEASE = sql(
    "DELETE FROM idempotency_keys WHERE org_id = $1 AND key = $2 AND fingerprint = $3 "
    "AND status = 0"
)
MARK_UNANSWERED = sql(
    "UPDATE idempotency_keys SET status = 2 WHERE org_id = $1 AND key = $2 "
    "AND fingerprint = $3 AND status = 1"
)
PURGE = sql("DELETE FROM idempotency_keys WHERE org_id = $1 AND created_at < $2")
# Kept answers become "carried out, answer not kept" (UNANSWERED); keys in flight are left alone.
FORGET_ORG_ANSWERS = sql(
    "UPDATE idempotency_keys SET status = 2, body = '', headers = '[]' "
    "WHERE org_id = $1 AND status > 2"
)
