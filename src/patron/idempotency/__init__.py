"""Idempotency keys: a write sent again with the same `Idempotency-Key` is answered as the first
time, not carried out twice."""
