"""The loyalty face's customer images: Capillary's `setImage` (by id and by look-up),
`deleteImage`, the image items of `embed=customerImage` and `embed=associatedImages`, and the
signed URLs that serve the bytes (docs/compat/loyalty.md, "Customer images")."""

from __future__ import annotations

from fastapi import Request, Response
from starlette.datastructures import UploadFile

from patron.customers.images import NAMESPACES, Upload
from patron.errors import NotFound, ValidationFailed
from patron.faces import FaceRouter, Svc, digits
from patron.faces.loyalty.files import image_items
from patron.faces.loyalty.routes import Writer, _customer_id, looked_up, ok
from patron.services import Services

router = FaceRouter(tags=["loyalty (Capillary)"])


def _namespace(request: Request) -> str:
    namespace = request.query_params.get("namespace") or "customerImage"
    if namespace not in NAMESPACES:
        raise ValidationFailed(f"namespace must be one of {', '.join(NAMESPACES)}",
                               reason="invalid_image", field="namespace")
    return namespace


async def _upload(request: Request, svc: Services, org_id: int, customer_id: int,
                  till_id: int | None) -> Response:
    namespace = _namespace(request)
    card_id = None
    number = request.query_params.get("cardNumber")
    if number:
        card = await svc.cards.card(org_id, number)
        if card["customer_id"] != customer_id:
            raise ValidationFailed("The card is not the customer's", reason="card_3010")
        card_id = int(card["id"])
    try:
        form = await request.form(max_files=10)
    except Exception:  # noqa: BLE001 - any unreadable body is the same client error
        raise ValidationFailed("The request does not contain a valid image file, or the image "
                               "has not been added.", reason="invalid_image") from None
    files = [Upload(v.filename or "", await v.read()) for _, v in form.multi_items()
             if isinstance(v, UploadFile)]
    rows = await svc.images.upload(org_id, customer_id, namespace, files, till_id, card_id)
    return ok({"data": await image_items(svc, "", org_id, rows, uploaded=True),
               "warnings": [], "errors": []})


@router.post("/v2/customers/lookup/setImage")
async def set_image_by_identifier(request: Request, svc: Svc, who: Writer) -> Response:
    customer_id, _ = await looked_up(svc, who.org_id, request.query_params)
    return await _upload(request, svc, who.org_id, customer_id, who.till_id)


@router.post("/v2/customers/{customer_id}/setImage")
async def set_image(customer_id: str, request: Request, svc: Svc, who: Writer) -> Response:
    return await _upload(request, svc, who.org_id, _customer_id(customer_id), who.till_id)


@router.delete("/v2/customers/{customer_id}/deleteImage")
async def delete_image(customer_id: str, request: Request, svc: Svc, who: Writer) -> Response:
    namespace = _namespace(request) if request.query_params.get("namespace") else None
    await svc.images.delete(who.org_id, _customer_id(customer_id), namespace)
    return ok({"warnings": [], "errors": []})


@router.get("/files/{namespace}/{org_id}/{customer_id}/{handle}", include_in_schema=False)
async def image_file(namespace: str, org_id: str, customer_id: str, handle: str,
                     request: Request, svc: Svc) -> Response:
    """A signed image URL: no credentials, the signature and expiry are the authority."""
    params = request.query_params
    expires, signature = params.get("Expires", ""), params.get("Signature", "")
    if not (digits(org_id) and digits(customer_id) and digits(expires)):
        raise NotFound("image not found or link expired", reason="image_not_found")
    row = await svc.images.signed_content(f"{namespace}/{org_id}/{customer_id}/{handle}",
                                          int(expires), signature)
    return Response(bytes(row["content"]), media_type=row["content_type"],
                    headers={"Cache-Control": "private, max-age=300"})
