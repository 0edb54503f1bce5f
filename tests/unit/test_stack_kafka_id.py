"""Kafka cluster ids: the storage tool must never read one as an option."""

from __future__ import annotations

import uuid

import pytest

from topproducts.stack.services import new_kafka_cluster_id


def test_a_cluster_id_that_would_start_with_a_dash_is_drawn_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # 0xF8 is 111110 in its first six bits: base64 url-safe index 62, "-".
    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(int=1)])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(draws))
    cluster_id = new_kafka_cluster_id()
    assert cluster_id == "AAAAAAAAAAAAAAAAAAAAAQ"


def test_cluster_ids_are_22_url_safe_characters() -> None:
    ids = {new_kafka_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    for cluster_id in ids:
        assert len(cluster_id) == 22 and not cluster_id.startswith("-")
        assert set(cluster_id) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
