"""SQL for credentials and OAuth tokens."""

from __future__ import annotations

from patron.db.statement import sql

INSERT_CREDENTIAL = sql(
    "INSERT INTO credentials (org_id, id, kind, name, lookup_key, secret_hash, hint, scopes, "
    "till_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
)
FIND_CREDENTIAL = sql(
    "SELECT org_id, id, kind, secret_hash, scopes, till_id FROM credentials "
    "WHERE kind = $1 AND lookup_key = $2 AND revoked_at IS NULL"
)
# A till signs in with its code alone, and an OAuth client with its id alone, so a login is
# unique across the store, revoked ones included (credentials_lookup).
LOGIN_TAKEN = sql("SELECT 1 FROM credentials WHERE kind = $1 AND lookup_key = $2")
LIST_CREDENTIALS = sql(
    "SELECT id, kind, name, hint, scopes, till_id, created_at, revoked_at FROM credentials "
    "WHERE org_id = $1 ORDER BY id"
)
GET_CREDENTIAL = sql(
    "SELECT id, kind, name, lookup_key, hint, scopes, till_id, revoked_at FROM credentials "
    "WHERE org_id = $1 AND id = $2"
)
REVOKE_CREDENTIAL = sql(
    "UPDATE credentials SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL"
)
UPDATE_CREDENTIAL_SECRET = sql(
    "UPDATE credentials SET lookup_key = $3, secret_hash = $4, hint = $5 "
    "WHERE org_id = $1 AND id = $2"
)
# Every revocation and rotation counts itself here, in its own transaction, so that the
# processes that cache verified credentials (each server worker, on every host) notice it and
# drop their cache (AuthService.notice_changes). The counter row is made by the first change.
COUNT_CREDENTIAL_CHANGE = sql(
    "INSERT INTO id_counters (name, next_value) VALUES ('credential_changes', 1) "
    "ON CONFLICT (name) DO UPDATE SET next_value = id_counters.next_value + 1"
)
CREDENTIAL_CHANGES = sql(
    "SELECT coalesce(max(next_value), 0) FROM id_counters WHERE name = 'credential_changes'"
)
REVOKE_CREDENTIAL_TOKENS = sql(
    "UPDATE oauth_tokens SET revoked_at = $3 WHERE org_id = $1 AND credential_id = $2 "
    "AND revoked_at IS NULL"
)

INSERT_TOKEN = sql(
    "INSERT INTO oauth_tokens (token_hash, org_id, credential_id, kind, face, pair_hash, "
    "expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)
FIND_TOKEN = sql(
    "SELECT t.org_id, t.credential_id, t.kind, t.face, t.pair_hash, t.expires_at, c.kind AS "
    "credential_kind, c.scopes, c.till_id FROM oauth_tokens t JOIN credentials c "
    "ON c.org_id = t.org_id AND c.id = t.credential_id "
    "WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND c.revoked_at IS NULL"
)
# An expired token is refused as an unknown one is, so the scheduled jobs drop it: otherwise
# every token ever issued would stay (a client that asks for a token per call adds a row per call).
PURGE_EXPIRED_TOKENS = sql("DELETE FROM oauth_tokens WHERE org_id = $1 AND expires_at <= $2")
REVOKE_TOKEN = sql(
    "UPDATE oauth_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL"
)
# A refresh token is spent by the one request that revokes it: a second, concurrent one finds
# nothing to revoke.
SPEND_REFRESH_TOKEN = sql(
    "UPDATE oauth_tokens SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL "
    "RETURNING org_id"
)
REVOKE_PAIRED_TOKENS = sql(
    "UPDATE oauth_tokens SET revoked_at = $3 WHERE org_id = $1 AND pair_hash = $2 "
    "AND revoked_at IS NULL"
)
