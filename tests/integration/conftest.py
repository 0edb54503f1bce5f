"""Fixtures shared by the integration tests (the sandbox itself is in ``tests/conftest.py``)."""

from __future__ import annotations

import pytest

from tests.support.sandbox import stop_stream_and_drop_keyspace  # noqa: F401 - test_stream_kafka
from topproducts.settings import Settings


@pytest.fixture
def stream_shop(sandbox: Settings) -> Settings:
    """The sandbox, with a stream that triggers every second."""
    return sandbox.replace(stream_trigger_seconds=1.0)
