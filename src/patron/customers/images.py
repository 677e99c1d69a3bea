"""Customer images (Capillary's `setImage`, `embed=customerImage`) and associated images, a
customer's card barcode images (`embed=associatedImages`).

The bytes are kept in the database (so backups hold them) and served at URLs that carry an
expiry and an HMAC signature, as Capillary serves pre-signed storage URLs: whoever holds a URL
can fetch that image until it expires, and nothing else. An upload replaces the images at the
same positions (each position keeps a version count); a PII scrub deletes them all.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from patron.clock import Clock
from patron.customers import repository as repo
from patron.customers.service import active_state
from patron.db.database import Database, Row
from patron.db.ids import next_id
from patron.errors import NotFound, ValidationFailed

NAMESPACES = ("customerImage", "associatedImages")
MAX_FILES = 5
SIGNING_KEY_NAME = "image_url_signing_key"
# Leading bytes of the image formats accepted, and the content type each is served with.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


def image_type(content: bytes) -> str | None:
    """The content type of an image by its leading bytes (PNG, JPEG, GIF, WebP, BMP, TIFF)."""
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _SIGNATURES if content.startswith(magic)), None)


@dataclass
class Upload:
    filename: str
    content: bytes


class CustomerImages:
    def __init__(self, db: Database, clock: Clock, signing_key: str = "") -> None:
        self.db = db
        self.clock = clock
        self._key = signing_key.encode() if signing_key else b""

    async def upload(self, org_id: int, customer_id: int, namespace: str, files: list[Upload],
                     till_id: int | None, card_id: int | None = None) -> list[Row]:
        """Stores the files at positions 0.. (replacing what was there), all or none."""
        if namespace not in NAMESPACES:
            raise ValidationFailed(f"namespace must be one of {', '.join(NAMESPACES)}",
                                   reason="invalid_image", field="namespace")
        if not files or len(files) > MAX_FILES or any(not f.content for f in files):
            raise ValidationFailed(
                "The request does not contain a valid image file, or the image has not been "
                "added.", reason="invalid_image")
        kinds = [image_type(f.content) for f in files]
        if None in kinds:
            raise ValidationFailed(
                "The request does not contain a valid image file, or the image has not been "
                "added.", reason="invalid_image")
        now = self.clock.now_ms()
        async with self.db.transaction() as tx:
            await active_state(tx, org_id, customer_id)
            for position, (f, kind) in enumerate(zip(files, kinds, strict=True)):
                old = await tx.fetchrow(repo.IMAGE_AT, org_id, customer_id, namespace, position)
                version = 1
                if old is not None:
                    version = old["version"] + 1
                    await tx.execute(repo.DELETE_IMAGE, org_id, old["id"])
                await tx.execute(repo.INSERT_IMAGE, org_id, await next_id(tx), customer_id,
                                 namespace, str(uuid.uuid4()), position, card_id, kind,
                                 len(f.content), f.content, version, now, till_id)
            rows = await tx.fetch(repo.IMAGES, org_id, customer_id, namespace)
        return rows[:len(files)]

    async def images(self, org_id: int, customer_id: int, namespace: str) -> list[Row]:
        return await self.db.fetch(repo.IMAGES, org_id, customer_id, namespace)

    async def delete(self, org_id: int, customer_id: int, namespace: str | None) -> None:
        async with self.db.transaction() as tx:
            await active_state(tx, org_id, customer_id)
            if namespace is None:
                await tx.execute(repo.DELETE_ALL_IMAGES, org_id, customer_id)
            else:
                await tx.execute(repo.DELETE_IMAGES, org_id, customer_id, namespace)

    # -- signed URLs -------------------------------------------------------------------------

    async def _signing_key(self) -> bytes:
        if not self._key:
            async with self.db.transaction() as tx:
                await tx.execute(repo.ADD_SERVER_SECRET, SIGNING_KEY_NAME,
                                 secrets.token_hex(32), self.clock.now_ms())
                self._key = str(await tx.fetchval(repo.SERVER_SECRET, SIGNING_KEY_NAME)).encode()
        return self._key

    async def signature(self, token: str, expires: int) -> str:
        """The HMAC of an image's storage token (`namespace/org/customer/handle`) and expiry."""
        message = f"{token}:{expires}".encode()
        return hmac.new(await self._signing_key(), message, hashlib.sha256).hexdigest()

    async def signed_content(self, token: str, expires: int, signature: str) -> Row:
        """The image a signed URL names, if the signature is right and it has not expired."""
        expected = await self.signature(token, expires)
        if not hmac.compare_digest(expected, signature) or expires * 1000 < self.clock.now_ms():
            raise NotFound("image not found or link expired", reason="image_not_found")
        namespace, org_id, customer_id, handle = token.split("/")
        row = await self.db.fetchrow(repo.IMAGE_CONTENT, int(org_id), handle)
        if row is None or row["namespace"] != namespace or row["customer_id"] != int(customer_id):
            raise NotFound("image not found or link expired", reason="image_not_found")
        return row
