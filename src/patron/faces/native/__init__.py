"""Patron's own API (`/patron/v1/...`): writing communications and engagement records."""
