"""Clusters of similar (not duplicate) demands within each chain, labelled with distinctive segmented terms.

A duplicate group takes part as one unit (its representative's vector), so a cluster means "related needs", not
"copies". Average-linkage agglomerative clustering with a cosine distance threshold: deterministic, and the number
of clusters follows from the data rather than being fixed in advance.
"""

import numpy as np
import pandas as pd
from sklearn.cluster import AgglomerativeClustering
from sklearn.feature_extraction.text import CountVectorizer

from . import schema as s
from .settings import ClusterConfig


def _units(demands: pd.DataFrame) -> pd.Series:
    """Each demand's unit: its duplicate group's representative, or itself."""
    rep = demands[s.DUPLICATE_OF].fillna("").astype(str)
    return rep.where(rep != "", demands[s.DEMAND_ID])


def cluster_demands(demands: pd.DataFrame, vectors: np.ndarray, config: ClusterConfig) -> pd.DataFrame:
    """Add CLUSTER_ID ("C" + smallest member id's hex, "" for a demand in no cluster) and CLUSTER_LABEL.

    Input columns: DEMAND_ID, CHAIN_ID, INDUSTRY_ID, DUPLICATE_OF, TOKENS; `vectors` row-aligned, L2-normalised.
    Clusters never cross a chain (industry, chain) pair, and hold at least `min_cluster_size` units.
    """
    s.require_columns(demands, [s.DEMAND_ID, s.CHAIN_ID, s.INDUSTRY_ID, s.DUPLICATE_OF, s.TOKENS], "cluster")
    units = _units(demands)
    position = {d: i for i, d in enumerate(demands[s.DEMAND_ID])}
    unit_cluster: dict[str, str] = {}
    reps = demands[demands[s.DEMAND_ID] == units]
    for _, block in reps.groupby([s.INDUSTRY_ID, s.CHAIN_ID], sort=True):
        ids = sorted(block[s.DEMAND_ID])
        if len(ids) < config.min_cluster_size:
            continue
        found = AgglomerativeClustering(
            n_clusters=None, metric="cosine", linkage="average", distance_threshold=config.distance_threshold
        ).fit_predict(vectors[[position[d] for d in ids]])
        for label in np.unique(found):
            members = [d for d, f in zip(ids, found, strict=True) if f == label]
            if len(members) >= config.min_cluster_size:
                unit_cluster.update(dict.fromkeys(members, "C" + min(members)[1:]))
    cluster_ids = units.map(lambda u: unit_cluster.get(u, ""))
    # a cluster's id comes from its smallest member overall, duplicates included
    smallest = demands[s.DEMAND_ID].groupby(cluster_ids).min()
    cluster_ids = cluster_ids.map(lambda c: "C" + smallest[c][1:] if c else "")
    labels = cluster_labels(demands[s.TOKENS], cluster_ids, config.label_terms)
    return demands.assign(**{s.CLUSTER_ID: cluster_ids, s.CLUSTER_LABEL: cluster_ids.map(labels).fillna("")})


def cluster_labels(tokens: pd.Series, cluster_ids: pd.Series, n_terms: int) -> dict[str, str]:
    """c-TF-IDF: the terms most frequent in a cluster relative to all demands, joined with "、"."""
    docs = tokens.groupby(cluster_ids).agg(" ".join)
    clustered = [c for c in docs.index if c]
    if not clustered:
        return {}
    vectorizer = CountVectorizer(analyzer=str.split)
    counts = vectorizer.fit_transform(docs.tolist()).toarray().astype(float)
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    idf = np.log1p(counts.sum(axis=1).mean() / np.maximum(counts.sum(axis=0), 1.0))
    scores = tf * idf
    vocab = vectorizer.get_feature_names_out()
    labels = {}
    for row, cluster in enumerate(docs.index):
        if cluster:
            top = sorted(np.flatnonzero(scores[row]), key=lambda j: (-scores[row, j], vocab[j]))[:n_terms]
            labels[cluster] = "、".join(vocab[j] for j in top)
    return labels
