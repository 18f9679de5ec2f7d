"""Which earlier demands take part in a call's run, found through the library's index (pipelines/demand_index.py).

A run computes afresh only its "query" demands: the call's, plus any library demand not yet indexed (a library
written before the index existed, a demand whose personal data was erased). Of the indexed library it reads just
the context those demands need: the demands found by the index (copies, shared MinHash bands, nearest vectors:
the candidates for duplicates and the clusters a new demand may join), the other members of their duplicate groups
(a merge of two earlier groups moves every member), and the demands with human mapping decisions (what the learned
mapper is fitted on). Clusters need not come whole: an earlier demand keeps its cluster, a new one joins the earlier
cluster most of its companions hold, and earlier clusters keep their labels (pipelines/continuity.py). The rest of
the library is only read as vectors, to name the nearest cluster of a singleton.
"""

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import schema as s
from .continuity import with_library
from .demand_index import IndexEntries, related_in_library, with_members
from .embed import Encoder, demand_vectors
from .normalize import normalize_demands
from .segment import Segmenter, segment_demands
from .settings import PipelineConfig

Vectors = tuple[np.ndarray, np.ndarray, np.ndarray]
_NEAR = 5  # nearest library demands read per call demand, whatever their similarity: the clusters it may join


@dataclass(frozen=True)
class Context:
    """The library demands a run reads: normalised, segmented and encoded like the call, with their band keys."""

    frame: pd.DataFrame
    vectors: Vectors
    bands: np.ndarray
    found: pd.DataFrame  # (query, library, how) pairs the index found


def unindexed(stored: pd.DataFrame, index: IndexEntries) -> list[str]:
    """Library demands without an index entry for the run's encoder: computed afresh by the run."""
    return sorted(set(stored[s.DEMAND_ID]) - set(index.ids)) if len(stored) else []


def library_context(
    stored: pd.DataFrame,
    index: IndexEntries,
    query: IndexEntries,
    decided: list[str],
    segmenter: Segmenter,
    encoder: Encoder,
    config: PipelineConfig,
) -> Context:
    """The context of the query demands (see the module doc); `decided`: ids with human mapping decisions."""
    library = index.subset(~pd.Index(index.ids).isin(query.ids))  # hashed: np.isin sorts object arrays
    related, found = related_in_library(query, library, config.dedup, config.dedup.neighbours, _NEAR)
    ids = with_members(np.union1d(related, np.array(decided, dtype=object)), stored, (s.DUPLICATE_GROUP,))
    ids = np.array(sorted(set(ids) - set(query.ids)), dtype=object)
    rows = with_library(pd.DataFrame(columns=[s.DEMAND_ID]), stored, ids)
    rows = segment_demands(normalize_demands(rows, config.normalize), segmenter)
    at = pd.Index(index.ids).get_indexer(rows[s.DEMAND_ID])
    if (at < 0).any():  # not expected (see the module doc): such a context is encoded whole, without band keys
        bands = np.zeros((len(rows), index.bands.shape[1]), dtype=np.uint64)
        bands[at >= 0] = index.bands[at[at >= 0]]
        return Context(rows, demand_vectors(rows, encoder, config.embed), bands, found)
    return Context(rows, _vectors(rows, index.vectors[at], decided, encoder, config), index.bands[at], found)


def _vectors(
    rows: pd.DataFrame, full: np.ndarray, decided: list[str], encoder: Encoder, config: PipelineConfig
) -> Vectors:
    """The context's vectors: full ones as the index holds them (what the library was grouped and clustered with);
    title and body vectors only for the demands with human decisions, the learned mapper's training rows (the call's
    mapping reads no other earlier demand's), zero rows for the others."""
    title, body = np.zeros_like(full), np.zeros_like(full)
    fitted = rows[s.DEMAND_ID].isin(decided).to_numpy()
    if fitted.any():
        title[fitted], body[fitted], _ = demand_vectors(rows[fitted], encoder, config.embed)
    return title, body, full


def outside_clusters(stored: pd.DataFrame, index: IndexEntries, loaded: pd.Series) -> tuple[pd.DataFrame, np.ndarray]:
    """The indexed library demands the run did not load, with their cluster and chain, and their vectors (the
    reference for nearest clusters)."""
    if not len(stored) or not len(index):
        return pd.DataFrame(columns=[s.DEMAND_ID, s.INDUSTRY_ID, s.CHAIN_ID, s.CLUSTER_ID]), index.vectors
    keep = ~pd.Index(index.ids).isin(loaded)
    rows = stored.set_index(s.DEMAND_ID).reindex(index.ids[keep])
    frame = rows[[s.INDUSTRY_ID, s.CHAIN_ID, s.CLUSTER_ID]].fillna("").astype(str).reset_index(names=s.DEMAND_ID)
    return frame, index.vectors[keep]


def joined(frame: pd.DataFrame, vectors: Vectors, bands: np.ndarray, context: Context) -> tuple[
    pd.DataFrame, Vectors, np.ndarray
]:  # fmt: skip
    """The query frame followed by the context, vectors and band keys alike."""
    both = pd.concat([frame, context.frame], ignore_index=True)
    stacked = tuple(np.vstack([a, b]) if len(b) else a for a, b in zip(vectors, context.vectors, strict=True))
    return both, stacked, np.vstack([bands, context.bands])  # type: ignore[return-value]
