"""``topproducts api``: serve the HTTP API and the live leaderboard page."""

from __future__ import annotations

import click

from topproducts.exposure import check_bind
from topproducts.settings import get_settings


@click.command()
@click.option("--host", default=None, help="Interface to bind (default: settings.api_host).")
@click.option("--port", default=None, type=click.IntRange(1, 65535),
              help="Port (default: settings.api_port).")
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
def api(host: str | None, port: int | None, reload: bool) -> None:
    """Serve the API (OpenAPI docs at /docs) and the live leaderboards at /."""
    import uvicorn

    settings = get_settings()
    host = host or settings.api_host
    port = port or settings.api_port
    check_bind(settings, host)
    click.echo(f"leaderboards: http://{host}:{port}/   API docs: http://{host}:{port}/docs",
               err=True)
    uvicorn.run("services.app:create_app", factory=True, host=host, port=port, reload=reload,
                log_level="info")
