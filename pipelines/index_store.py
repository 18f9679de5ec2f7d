"""Library methods for the search index of pipelines/demand_index.py (migration 7): read it, and write entries in
the transaction that saves a run."""

import numpy as np
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from . import migrations as m
from . import schema as s
from .demand_index import IndexEntries

_WRITE_BATCH = 2_000


class IndexMixin:
    """The library's demand index (the Library provides `_ready`)."""

    def _ready(self) -> Engine:  # pragma: no cover - pipelines.store.Library overrides it
        raise NotImplementedError

    def index_entries(self, encoder: str, bands: int) -> IndexEntries:
        """Every entry made with `encoder` whose demand is still in the library, by demand id; entries of another
        encoder (or band count) are ignored: those demands are indexed again by the next run."""
        t, d = m.DEMAND_INDEX, m.DEMANDS
        query = (
            sa.select(t.c.demand_id, t.c.copy_key, t.c.bands, t.c.vector)
            .join(d, d.c.demand_id == t.c.demand_id)
            .where(t.c.encoder == encoder)
        )
        ids, keys, band_rows, vectors = [], [], [], []
        with self._ready().connect() as conn:
            for demand_id, key, band_blob, vector_blob in conn.execute(query.order_by(t.c.demand_id)):
                if len(band_blob) != 8 * bands:
                    continue
                ids.append(demand_id)
                keys.append(key)
                band_rows.append(band_blob)
                vectors.append(vector_blob)
        if not ids:
            return IndexEntries.empty(encoder, bands=bands)
        dim = len(vectors[0]) // 4
        return IndexEntries(
            np.array(ids, dtype=object),
            np.array(keys, dtype=object),
            np.frombuffer(b"".join(band_rows), dtype="<u8").reshape(len(ids), bands).astype(np.uint64),
            np.frombuffer(b"".join(vectors), dtype="<f4").reshape(len(ids), dim).astype(np.float32),
            encoder,
        )


def save_index(conn: Connection, entries: IndexEntries) -> int:
    """Insert or replace the entries (in the caller's transaction); returns how many were written."""
    t = m.DEMAND_INDEX
    ids = [str(i) for i in entries.ids]
    for start in range(0, len(ids), m.CHUNK):
        conn.execute(sa.delete(t).where(t.c.demand_id.in_(ids[start : start + m.CHUNK])))
    bands = np.ascontiguousarray(entries.bands, dtype="<u8")
    vectors = np.ascontiguousarray(entries.vectors, dtype="<f4")
    rows = [
        {
            s.DEMAND_ID: demand_id,
            m.ENCODER: entries.encoder,
            "copy_key": str(key),
            "bands": bands[i].tobytes(),
            "vector": vectors[i].tobytes(),
        }
        for i, (demand_id, key) in enumerate(zip(ids, entries.copy_keys, strict=True))
    ]
    for start in range(0, len(rows), _WRITE_BATCH):
        conn.execute(sa.insert(t), rows[start : start + _WRITE_BATCH])
    return len(rows)


def drop_index_entries(conn: Connection, demand_ids: list[str]) -> None:
    """Remove the entries of these demands (their text changed: the next run indexes them again)."""
    t = m.DEMAND_INDEX
    for start in range(0, len(demand_ids), m.CHUNK):
        conn.execute(sa.delete(t).where(t.c.demand_id.in_(demand_ids[start : start + m.CHUNK])))
