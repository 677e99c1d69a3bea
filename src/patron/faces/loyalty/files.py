"""Image items of the loyalty face (`setImage` answers, `embed=customerImage`,
`embed=associatedImages`), with URLs signed for a while, as Capillary's pre-signed storage URLs."""

from __future__ import annotations

import time
from typing import Any

from patron.customers.images import CustomerImages
from patron.services import Services


async def image_items(svc: Services, base: str, org_id: int, rows: list[Any],
                      uploaded: bool = False) -> list[dict[str, Any]]:
    """The items of `customerImage[]` (and of an upload's `data[]`): Capillary's file object,
    and for reads `filePath`/`secureFilePath`, a URL signed for `image_url_seconds`."""
    images: CustomerImages = svc.images
    expires = svc.clock.now_ms() // 1000 + svc.settings.image_url_seconds
    out = []
    for r in rows:
        token = f"{r['namespace']}/{org_id}/{r['customer_id']}/{r['handle']}"
        item: dict[str, Any] = {"code": 200, "file": {
            "acl": "PRIVATE", "fileSize": str(r["size"]), "fileHandle": r["handle"],
            "lastModified": time.strftime("%Y-%m-%d %H:%M:%S",
                                          time.gmtime(r["created_at"] // 1000)),
            "latestVersion": r["version"], "name": f"{org_id}/{r['customer_id']}/{r['position']}",
            "namespace": r["namespace"], "s3Token": token, "version": r["version"]}}
        if r["card_id"] is not None:
            item["file"]["cardId"] = r["card_id"]
        if uploaded:
            item.update({"message": "Successfully uploaded file", "status": "true"})
        else:
            signature = await images.signature(token, expires)
            url = f"{base}/files/{token}?Expires={expires}&Signature={signature}"
            item.update({"filePath": url, "message": "Success", "secureFilePath": url,
                         "status": "true"})
        out.append(item)
    return out


