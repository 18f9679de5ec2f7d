"""Clusters of similar (not duplicate) demands within each chain, grouped one level up, labelled with distinctive
segmented terms.

A duplicate group takes part as one unit (its representative's vector and terms), so a cluster means "related
needs", not "copies". The method (`pipelines.cluster_method`): centred sentence vectors plus TF-IDF terms, neighbour
smoothing, average linkage with a cosine-distance threshold, nearest-centroid refinement, and a second, coarser
linkage of the clusters. Deterministic and independent of row order; the number of clusters follows from the data.
"""

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

from . import schema as s
from .cluster_method import cluster_levels
from .settings import ClusterConfig


def _units(demands: pd.DataFrame) -> pd.Series:
    """Each demand's unit: its duplicate group's representative, or itself."""
    rep = demands[s.DUPLICATE_OF].fillna("").astype(str)
    return rep.where(rep != "", demands[s.DEMAND_ID])


def _chain_levels(block: pd.DataFrame, vectors: np.ndarray, config: ClusterConfig) -> tuple[pd.Series, pd.Series]:
    """Cluster and group keys ("" when fewer than `min_cluster_size` units) of one chain's units, by demand id."""
    ids = block[s.DEMAND_ID].tolist()
    tokens = block[s.TOKENS].fillna("").astype(str).tolist()
    chain = f"{block[s.INDUSTRY_ID].iloc[0]}/{block[s.CHAIN_ID].iloc[0]}"
    return tuple(  # type: ignore[return-value]
        pd.Series(_keys(labels, chain, config.min_cluster_size), index=ids)
        for labels in cluster_levels(vectors, tokens, ids, config)
    )


def _keys(labels: np.ndarray, chain: str, min_size: int) -> list[str]:
    sizes = np.bincount(labels)
    return [f"{chain}:{label}" if sizes[label] >= min_size else "" for label in labels]


def _smallest_member_ids(units: pd.Series, unit_key: pd.Series, demands: pd.DataFrame, prefix: str) -> pd.Series:
    """Each demand's key renamed to prefix + the smallest member demand id's hex (duplicates included), or ""."""
    keys = units.map(unit_key).fillna("")
    smallest = demands[s.DEMAND_ID].groupby(keys).min()
    names = {key: prefix + str(first)[1:] for key, first in smallest.items() if key}
    return keys.map(lambda key: names.get(key, ""))


def cluster_demands(demands: pd.DataFrame, vectors: np.ndarray, config: ClusterConfig) -> pd.DataFrame:
    """Add CLUSTER_ID ("C" + smallest member id's hex, "" for a demand in no cluster), CLUSTER_LABEL,
    CLUSTER_GROUP ("K" + smallest member id's hex, "" for a demand in no group) and CLUSTER_GROUP_LABEL.

    Input columns: DEMAND_ID, CHAIN_ID, INDUSTRY_ID, DUPLICATE_OF, TOKENS; `vectors` row-aligned, L2-normalised.
    Clusters and groups never cross a chain (industry, chain) pair and hold at least `min_cluster_size` units (a
    duplicate group is one unit). A group gathers related clusters (and lone units) of its chain; every cluster lies
    inside one group, and a demand may be in a group without being in a cluster.
    """
    s.require_columns(demands, [s.DEMAND_ID, s.CHAIN_ID, s.INDUSTRY_ID, s.DUPLICATE_OF, s.TOKENS], "cluster")
    units = _units(demands)
    position = {d: i for i, d in enumerate(demands[s.DEMAND_ID])}
    fine_parts, coarse_parts = [pd.Series(dtype=str)], [pd.Series(dtype=str)]
    reps = demands[demands[s.DEMAND_ID] == units]
    for _, block in reps.groupby([s.INDUSTRY_ID, s.CHAIN_ID], sort=True):
        if len(block) < config.min_cluster_size:
            continue
        fine, coarse = _chain_levels(block, vectors[[position[d] for d in block[s.DEMAND_ID]]], config)
        fine_parts.append(fine)
        coarse_parts.append(coarse)
    cluster_ids = _smallest_member_ids(units, pd.concat(fine_parts), demands, "C")
    group_ids = _smallest_member_ids(units, pd.concat(coarse_parts), demands, "K")
    return with_labels(demands.assign(**{s.CLUSTER_ID: cluster_ids, s.CLUSTER_GROUP: group_ids}), config.label_terms)


def with_labels(demands: pd.DataFrame, n_terms: int) -> pd.DataFrame:
    """CLUSTER_LABEL and CLUSTER_GROUP_LABEL (c-TF-IDF terms, "" outside a cluster / group) recomputed from the ids.

    Input columns: TOKENS, CLUSTER_ID, CLUSTER_GROUP (a frame without CLUSTER_GROUP gets no group label column).
    """
    out = demands.assign(**{s.CLUSTER_LABEL: _labelled(demands, s.CLUSTER_ID, n_terms)})
    if s.CLUSTER_GROUP in demands.columns:
        out[s.CLUSTER_GROUP_LABEL] = _labelled(demands, s.CLUSTER_GROUP, n_terms)
    return out


def _labelled(demands: pd.DataFrame, column: str, n_terms: int) -> pd.Series:
    ids = demands[column].fillna("").astype(str)
    return ids.map(cluster_labels(demands[s.TOKENS], ids, n_terms)).fillna("")


def nearest_clusters(
    demands: pd.DataFrame,
    vectors: np.ndarray,
    rows: np.ndarray | None = None,
    reference: tuple[pd.DataFrame, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Add NEAREST_CLUSTER and NEAREST_CLUSTER_SIMILARITY for demands in no cluster ("" / NaN for the others).

    No demand is left in an anonymous "outlier" bucket: a singleton names the cluster whose centroid is closest,
    looking in its own chain first and across all chains when its chain has no cluster. Input columns: DEMAND_ID,
    INDUSTRY_ID, CHAIN_ID, CLUSTER_ID; `vectors` row-aligned and L2-normalised. `rows` (bool mask): only these
    demands are given a nearest cluster; `reference`: more demands (same columns) and their vectors whose clusters
    count too (the library demands a run did not load).
    """
    ref_frame, ref_vectors = reference if reference is not None else (demands.iloc[0:0], vectors[:0])
    every = pd.concat([demands[_NEAREST_INPUT], ref_frame[_NEAREST_INPUT]], ignore_index=True)
    every_vectors = np.vstack([vectors, ref_vectors]) if len(ref_frame) else vectors
    clustered = (every[s.CLUSTER_ID].fillna("") != "").to_numpy()
    wanted = (demands[s.CLUSTER_ID].fillna("") == "").to_numpy() & (True if rows is None else np.asarray(rows, bool))
    nearest: pd.Series = pd.Series("", index=demands.index, dtype=object)
    similarity: pd.Series = pd.Series(np.nan, index=demands.index, dtype=float)
    if clustered.any() and wanted.any():
        ids = every.loc[clustered, s.CLUSTER_ID].to_numpy()
        names, inverse = np.unique(ids, return_inverse=True)
        members = sparse.csr_matrix((np.ones(len(inverse)), (inverse, np.arange(len(inverse)))))
        sums = np.asarray(members @ every_vectors[clustered].astype(np.float64))
        centroids = (sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)).astype(np.float32)
        chains = every.loc[clustered].groupby(s.CLUSTER_ID)[s.CHAIN_ID].first().reindex(names).to_numpy()
        positions = np.flatnonzero(wanted)
        own_chain = demands[s.CHAIN_ID].to_numpy()
        best_names, best_sims = [], []
        for start in range(0, len(positions), _NEAREST_BLOCK):  # (block x clusters) similarities at a time
            block = positions[start : start + _NEAREST_BLOCK]
            sims = vectors[block].astype(np.float32) @ centroids.T
            own = chains[None, :] == own_chain[block][:, None]
            ranked = np.where(own.any(axis=1, keepdims=True) & ~own, -np.inf, sims)
            best = ranked.argmax(axis=1)
            best_names.append(names[best])
            best_sims.append(np.round(sims[np.arange(len(best)), best].astype(np.float64), 4))
        nearest.iloc[positions] = np.concatenate(best_names)
        similarity.iloc[positions] = np.concatenate(best_sims)
    columns: dict[str, pd.Series] = {s.NEAREST_CLUSTER: nearest, s.NEAREST_CLUSTER_SIMILARITY: similarity}
    return demands.assign(**columns)


_NEAREST_INPUT = [s.DEMAND_ID, s.INDUSTRY_ID, s.CHAIN_ID, s.CLUSTER_ID]
_NEAREST_BLOCK = 4_096


def cluster_labels(tokens: pd.Series, cluster_ids: pd.Series, n_terms: int) -> dict[str, str]:
    """c-TF-IDF: the terms most frequent in a cluster relative to all demands, joined with "、"."""
    docs = tokens.groupby(cluster_ids).agg(" ".join)
    clustered = [c for c in docs.index if c]
    if not clustered:
        return {}
    vectorizer = CountVectorizer(analyzer=str.split)
    counts = vectorizer.fit_transform(docs.tolist()).astype(float).tocsr()
    totals = np.asarray(counts.sum(axis=1)).ravel()
    idf = np.log1p(totals.mean() / np.maximum(np.asarray(counts.sum(axis=0)).ravel(), 1.0))
    vocab = vectorizer.get_feature_names_out()
    labels = {}
    for row, cluster in enumerate(docs.index):
        if cluster:
            lo, hi = counts.indptr[row], counts.indptr[row + 1]
            terms, scores = (
                counts.indices[lo:hi],
                counts.data[lo:hi] / max(totals[row], 1.0) * idf[counts.indices[lo:hi]],
            )
            top = sorted(range(len(terms)), key=lambda j: (-scores[j], vocab[terms[j]]))[:n_terms]
            labels[cluster] = "、".join(vocab[terms[j]] for j in top if scores[j] > 0)
    return labels
