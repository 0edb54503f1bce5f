"""The live leaderboard page (static HTML + JS, no CDN, no build step) and a health check."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from pydantic import BaseModel

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter()


class Health(BaseModel):
    status: str


@router.get("/", include_in_schema=False)
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache"})


@router.get("/health", summary="Liveness", response_model=Health, tags=["meta"])
def health() -> Health:
    return Health(status="ok")
