"""Shared fixtures. Integration tests use the real local stack, started once per session."""

from __future__ import annotations

import uuid

import pytest

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
