"""Patron: a self-hosted customer data platform behind three compatible API faces."""

__version__ = "0.1.0"
