"""Each order fact counted once, ever: the driver's ledger of counted (event type, order).

The outbox relay publishes at least once, so the same confirmation (or cancellation)
of an order may arrive again, in the same batch or months later. The stream counts
the first and drops the rest. The ledger is one bit per (event type, order id), held
in chunks of :data:`CHUNK` order ids (numpy booleans in memory, 8 KiB packed in
Cassandra's ``counted_orders``). A batch writes the chunks it changed with its batch id
and the bits they replace, like every total (:mod:`streaming.counting`): after a crash,
:func:`restore` takes the replaced bits for a batch Spark did not commit, and Spark's
replay of that batch admits its events again, once.

This replaced Spark's ``dropDuplicates`` state: that operator shuffled every row and
kept a RocksDB store per partition, the largest fixed cost of a small batch
(``docs/streaming.md``). Order ids are dense (MySQL's auto-increment), so a million
orders take 16 chunks: 2 MiB in memory, 16 rows in Cassandra.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from streaming.counting import uncommitted
from streaming.store import ChunkWrite, StoredChunk

CHUNK_BITS = 16
CHUNK = 1 << CHUNK_BITS  # order ids per chunk


class Ledger:
    """Which (event type, order id) facts were counted."""

    def __init__(self) -> None:
        self.chunks: dict[tuple[str, int], Any] = {}  # numpy bool arrays of CHUNK
        self.counted = 0  # facts in the ledger (the stream reports it as state rows)

    def load(self, event_type: str, chunk: int, bits: bytes) -> None:
        import numpy as np

        seen = np.unpackbits(np.frombuffer(bits, np.uint8), count=CHUNK).astype(bool)
        self.chunks[(event_type, chunk)] = seen
        self.counted += int(seen.sum())

    def admit(self, event_type: str, order_ids: Any) -> tuple[Any, list[ChunkWrite]]:
        """Which of ``order_ids`` (int64 numpy array) count: the first occurrence of each
        id not counted before. Marks them counted; returns the mask and changed chunks."""
        import numpy as np

        keep = np.zeros(len(order_ids), bool)
        if not len(order_ids):
            return keep, []
        first = np.zeros(len(order_ids), bool)
        first[np.unique(order_ids, return_index=True)[1]] = True
        chunk_of, bit_of = order_ids >> CHUNK_BITS, order_ids & (CHUNK - 1)
        writes = []
        for chunk in np.unique(chunk_of).tolist():
            at = np.flatnonzero(chunk_of == chunk)
            bits = bit_of[at]
            seen = self.chunks.get((event_type, chunk))
            fresh = first[at] if seen is None else first[at] & ~seen[bits]
            if not fresh.any():
                continue
            prev = None if seen is None else _pack(seen)
            if seen is None:
                seen = self.chunks[(event_type, chunk)] = np.zeros(CHUNK, bool)
            seen[bits[fresh]] = True
            keep[at[fresh]] = True
            self.counted += int(fresh.sum())
            writes.append(ChunkWrite(event_type, chunk, _pack(seen), prev))
        return keep, writes


def _pack(seen: Any) -> bytes:
    import numpy as np

    return np.packbits(seen).tobytes()


def admit_batch(ledger: Ledger, table: Any, counted_kinds: Iterable[str]
                ) -> tuple[Any, list[ChunkWrite]]:
    """``table`` (keyed rows) without the facts counted before or repeated in it; rows of
    other kinds (dead letters, and nulls: placements) pass as they are."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if table.num_rows == 0:
        return table, []
    kind = table["key_kind"]
    keep = np.ones(table.num_rows, bool)
    writes: list[ChunkWrite] = []
    ids = table["key_id"]
    for event_type in counted_kinds:
        rows = np.flatnonzero(pc.fill_null(pc.equal(kind, event_type), False)
                              .to_numpy(zero_copy_only=False))
        if not len(rows):
            continue
        order_ids = pc.take(ids, pa.array(rows)).to_numpy(zero_copy_only=False).astype(np.int64)
        admitted, changed = ledger.admit(event_type, order_ids)
        keep[rows[~admitted]] = False
        writes += changed
    return (table if keep.all() else table.filter(pa.array(keep))), writes


def restore(ledger: Ledger, rows: Iterable[StoredChunk], last_committed: int | None) -> None:
    """Load stored chunks as of Spark's last committed batch (see the module doc)."""
    for row in rows:
        bits = row.prev_bits if uncommitted(row.batch_id, last_committed) else row.bits
        if bits is not None:
            ledger.load(row.event_type, row.chunk, bits)
