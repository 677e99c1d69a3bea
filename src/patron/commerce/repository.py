"""Transactions' SQL: bills and their returns, and the customer totals derived from them."""

from __future__ import annotations

from patron.db.statement import sql

INSERT_TRANSACTION = sql(
    "INSERT INTO transactions (org_id, id, customer_id, type, bill_number, amount, billed_at, "
    "till_id, created_at, source, return_type, original_id, gross_amount, discount, line_items, "
    "line_count, notes, extended_fields, in_loyalty) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
    "$10, $11, $12, $13, $14, $15, $16, $17, $18, $19) "
    "ON CONFLICT (org_id, bill_number) WHERE type = 'REGULAR' DO NOTHING RETURNING id"
)
# The bill a return names, locked so that two returns of one bill queue behind each other.
BILL_FOR_RETURN = sql(
    "SELECT id, customer_id, amount, returned_amount, line_items, return_type, in_loyalty "
    "FROM transactions WHERE org_id = $1 AND bill_number = $2 AND type = 'REGULAR' FOR UPDATE",
    sqlite="SELECT id, customer_id, amount, returned_amount, line_items, return_type, "
    "in_loyalty FROM transactions WHERE org_id = $1 AND bill_number = $2 AND type = 'REGULAR'",
)
# The line items of a bill's earlier returns (LINE_ITEM returns name what they take back).
RETURNED_ITEMS = sql(
    "SELECT line_items FROM transactions WHERE org_id = $1 AND original_id = $2 "
    "AND type = 'RETURN'"
)
ADD_RETURNED = sql(
    "UPDATE transactions SET returned_amount = returned_amount + $3, return_type = $4 "
    "WHERE org_id = $1 AND id = $2"
)
# The first statement of a bill's transaction: it locks the customer's row as
# customers.service.active_state does, and finds nobody once they are erased.
ADD_TO_TOTALS = sql(
    "UPDATE customers SET lifetime_purchases = lifetime_purchases + $3, "
    "net_revenue = net_revenue + $3 WHERE org_id = $1 AND id = $2 AND status = 'active' "
    "RETURNING loyalty_type"
)
TRANSACTION = sql(
    "SELECT x.id, x.customer_id, x.type, x.bill_number, x.amount, x.billed_at, x.created_at, "
    "x.source, x.return_type, x.original_id, x.gross_amount, x.discount, x.line_items, "
    "x.returned_amount, x.notes, x.extended_fields, x.in_loyalty, x.till_id, "
    "o.bill_number AS original_bill_number "
    "FROM transactions x "
    "LEFT JOIN transactions o ON o.org_id = x.org_id AND o.id = x.original_id "
    "WHERE x.org_id = $1 AND x.id = $2"
)

# PII erasure: the free text a client wrote on the customer's bills. Amounts, lines and bill
# numbers stay, as Capillary keeps transactions.
SCRUB_BILL_TEXT = sql(
    "UPDATE transactions SET notes = '', extended_fields = '{}' "
    "WHERE org_id = $1 AND customer_id = $2"
)
