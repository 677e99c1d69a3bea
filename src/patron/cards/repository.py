"""The SQL of card series, card status labels, cards and their status log."""

from __future__ import annotations

from patron.db.statement import sql

_SERIES_COLUMNS = (
    "id, code, name, description, type, expiry_days, card_expiry_enabled, max_active_cards, "
    "generation_enabled, generation_method, prefix, suffix, number_length, next_number, "
    "is_active, created_at, created_by, updated_at, updated_by"
)

INSERT_SERIES = sql(
    "INSERT INTO card_series (org_id, id, code, name, description, type, expiry_days, "
    "card_expiry_enabled, max_active_cards, generation_enabled, generation_method, prefix, "
    "suffix, number_length, next_number, is_active, created_at, created_by, updated_at, "
    "updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
    "$17, $18, $17, $18)"
)
SERIES = sql(f"SELECT {_SERIES_COLUMNS} FROM card_series WHERE org_id = $1 AND id = $2")
SERIES_BY_CODE = sql(f"SELECT {_SERIES_COLUMNS} FROM card_series WHERE org_id = $1 AND code = $2")
ALL_SERIES = sql(f"SELECT {_SERIES_COLUMNS} FROM card_series WHERE org_id = $1 ORDER BY id")
UPDATE_SERIES = sql(
    "UPDATE card_series SET name = $3, description = $4, expiry_days = $5, "
    "card_expiry_enabled = $6, max_active_cards = $7, generation_enabled = $8, "
    "generation_method = $9, prefix = $10, suffix = $11, number_length = $12, next_number = $13, "
    "is_active = $14, updated_at = $15, updated_by = $16 WHERE org_id = $1 AND id = $2"
)
# Reserves `count` consecutive numbers of an incremental series; returns the first.
TAKE_NUMBERS = sql(
    "UPDATE card_series SET next_number = next_number + $3 WHERE org_id = $1 AND id = $2 "
    "RETURNING next_number - $3"
)
SAME_FORMAT = sql(
    "SELECT id FROM card_series WHERE org_id = $1 AND id <> $2 AND generation_enabled "
    "AND prefix = $3 AND suffix = $4 AND number_length = $5 LIMIT 1"
)

INSERT_LABEL = sql(
    "INSERT INTO card_labels (org_id, id, label, status, created_at) VALUES ($1, $2, $3, $4, $5)"
)
LABELS = sql("SELECT id, label, status, created_at FROM card_labels WHERE org_id = $1 ORDER BY id")
LABEL = sql("SELECT id, label, status FROM card_labels WHERE org_id = $1 AND label = $2")

INSERT_CARD = sql(
    "INSERT INTO cards (org_id, id, series_id, card_number, card_external_id, customer_id, "
    "label, status, status_log_id, status_reason, status_changed_at, issued_at, expires_at, "
    "custom_fields, extended_fields, mapped_till_id, created_at, created_by) VALUES ($1, $2, $3, "
    "$4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $11, $17)"
)
_CARD_VIEW = (
    "SELECT c.org_id, c.id, c.series_id, c.card_number, c.card_external_id, c.customer_id, "
    "c.label, c.status, c.status_log_id, c.status_reason, c.status_changed_at, c.issued_at, "
    "c.expires_at, c.custom_fields, c.extended_fields, c.created_at, c.created_by, "
    "s.code AS series_code, s.name AS series_name, s.type AS series_type, s.expiry_days, "
    "s.max_active_cards, t.code AS mapped_till_code, c.mapped_till_id, l.id AS label_id "
    "FROM cards c JOIN card_series s ON s.org_id = c.org_id AND s.id = c.series_id "
    "LEFT JOIN tills t ON t.org_id = c.org_id AND t.id = c.mapped_till_id "
    "LEFT JOIN card_labels l ON l.org_id = c.org_id AND l.label = c.label "
)
CARD_BY_NUMBER = sql(_CARD_VIEW + "WHERE c.org_id = $1 AND c.card_number = $2")
CARD_BY_EXTERNAL_ID = sql(_CARD_VIEW + "WHERE c.org_id = $1 AND c.card_external_id = $2")
# Which of a batch of numbers are cards already (`value_list`): generation skips them.
TAKEN_NUMBERS = sql(
    "SELECT card_number FROM cards WHERE org_id = $1 AND card_number = ANY($2::text[])",
    sqlite="SELECT card_number FROM cards WHERE org_id = $1 "
    "AND card_number IN (SELECT value FROM json_each($2))",
)
CARDS_OF_CUSTOMER = sql(_CARD_VIEW + "WHERE c.org_id = $1 AND c.customer_id = $2 ORDER BY c.id")
ACTIVE_IN_SERIES = sql(
    "SELECT count(*) FROM cards WHERE org_id = $1 AND customer_id = $2 AND series_id = $3 "
    "AND status = 'ACTIVE'"
)
SET_STATUS = sql(
    "UPDATE cards SET label = $3, status = $4, status_log_id = $5, status_reason = $6, "
    "status_changed_at = $7 WHERE org_id = $1 AND id = $2"
)
LINK = sql(
    "UPDATE cards SET customer_id = $3, issued_at = $4, expires_at = COALESCE(expires_at, $5) "
    "WHERE org_id = $1 AND id = $2"
)
UNLINK = sql("UPDATE cards SET customer_id = NULL WHERE org_id = $1 AND id = $2")
SET_FIELDS = sql(
    "UPDATE cards SET card_external_id = $3, custom_fields = $4, extended_fields = $5, "
    "mapped_till_id = $6 WHERE org_id = $1 AND id = $2"
)
DUE_CARDS = sql(
    "SELECT id FROM cards WHERE org_id = $1 AND expires_at <= $2 "
    "AND status IN ('NOT_ISSUED', 'ACTIVE', 'SUSPENDED') ORDER BY expires_at LIMIT $3"
)

INSERT_STATUS_LOG = sql(
    "INSERT INTO card_status_log (org_id, id, card_id, label, status, reason, at, till_id) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
)
STATUS_LOG = sql(
    "SELECT id, card_id, label, status, reason, at, till_id FROM card_status_log "
    "WHERE org_id = $1 AND card_id = $2 ORDER BY id"
)

# PII erasure: the free text a client wrote on the customer's cards and their status changes.
# The cards, their numbers and states stay.
SCRUB_CARD_TEXT = sql(
    "UPDATE cards SET custom_fields = '{}', extended_fields = '{}', status_reason = '' "
    "WHERE org_id = $1 AND customer_id = $2"
)
SCRUB_CARD_LOG_REASONS = sql(
    "UPDATE card_status_log SET reason = '' WHERE org_id = $1 AND card_id IN "
    "(SELECT id FROM cards WHERE org_id = $1 AND customer_id = $2)"
)
