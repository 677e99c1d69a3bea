"""The HTTP faces. Each renders one vendor's API over the same domain services."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from patron.services import Services


async def services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency on a worker thread, a thread hop
    # on every request (measured: a third of the GET /v2/customers/{id} budget).
    return request.app.state.services  # type: ignore[no-any-return]


Svc = Annotated[Services, Depends(services)]


def digits(text: str, most: int = 18) -> bool:
    """ASCII digits only, at most `most` of them: `str.isdigit` also takes `²`, which `int`
    refuses, so every numeric path and query value goes through here before `int()`."""
    return text.isascii() and text.isdigit() and len(text) <= most


def base_url(request: Request, svc: Services) -> str:
    """The base of the absolute URLs Patron hands out: PATRON_PUBLIC_URL, else the request's."""
    return svc.settings.public_url or str(request.base_url).rstrip("/")
