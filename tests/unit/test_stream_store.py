"""How the stream cuts a window's boards into single-partition batches."""

from __future__ import annotations

from streaming.store import ENTRIES_PER_BATCH, _scope_chunks


def boards(scope: str, entries: int, n: int = 6) -> list[tuple]:
    return [("quantity", "product", scope, None, list(range(entries))) for _ in range(n)]


def test_chunks_keep_whole_scopes_in_order_under_the_entry_budget() -> None:
    scopes = [boards(s, 10) for s in ("GLOBAL", "US", "DE", "FR", "GB", "JP")]
    chunks = list(_scope_chunks(scopes))
    assert [b for c in chunks for b in c] == [b for s in scopes for b in s]  # all, in order
    assert len(chunks) == 2  # 360 entries: 300 (five scopes) + 60
    for chunk in chunks:
        assert sum(len(b[4]) for b in chunk) <= ENTRIES_PER_BATCH
        assert len(chunk) % 6 == 0  # whole scopes only


def test_a_scope_bigger_than_the_budget_goes_alone_and_empty_boards_count() -> None:
    big, small, empty = boards("US", ENTRIES_PER_BATCH), boards("DE", 5), boards("FR", 0, 301)
    chunks = list(_scope_chunks([small, big, empty]))
    assert [len(c) for c in chunks] == [6, 6, 301]
    assert chunks[1] == big
