"""How secrets are made, hashed and compared.

Generated API keys and tokens carry 256 bits of entropy, so a SHA-256 digest is a safe stored
form and can be looked up directly. Till passwords and OAuth client secrets can be chosen by
people, so they are stored as Argon2id. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane) rather than the
# library's RFC 9106 low-memory profile (64 MiB, 3 passes): a server worker verifies a till login
# once per credential cache period, and 64 MiB per verification was a third of a worker's memory
# budget (docs/performance.md). Hashes made with other parameters still verify.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def hash_password(value: str) -> str:
    return _hasher.hash(value)


def verify_password(stored_hash: str, value: str) -> bool:
    try:
        return _hasher.verify(stored_hash, value)
    except (VerificationError, InvalidHashError):
        return False


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def till_password_digest(password: str) -> str:
    """What a Capillary client sends for a till password: lower-case hex MD5 of it."""
    return hashlib.md5(password.encode(), usedforsecurity=False).hexdigest()
