"""Shared fixtures. Integration tests use the real local stack, started once per session;
a test that needs isolation takes the one ``sandbox`` (:mod:`tests.support.sandbox`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import sandbox as support
from topproducts import stack
from topproducts.settings import Settings, get_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def running_stack(settings: Settings) -> Settings:
    """MariaDB, Kafka and Cassandra answering (started if needed; a running stack is reused)."""
    stack.up(settings)
    return settings


@pytest.fixture
def unique() -> str:
    """A short unique name for test-owned topics, keyspaces and databases."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def sandbox(running_stack: Settings, unique: str, tmp_path: Path) -> Iterator[Settings]:
    """The test's own databases, topics, keyspace and state folder; its stream is stopped
    and everything dropped afterwards."""
    with support.sandbox(running_stack, unique, state_dir=tmp_path) as s:
        yield s


CHROMIUM = "/usr/bin/chromium"  # Debian's build, installed by infra/setup.sh
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Chromium driven by Playwright. Fails (never skips) when it is missing."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: run `make setup` (apt chromium)"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()
