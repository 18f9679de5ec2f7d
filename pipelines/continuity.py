"""Continuity across calls: a new call is grouped together with the library, and earlier ids stay put.

The stages compute duplicate groups, clusters and cluster groups (the coarser level) afresh over the new call plus
the library's earlier demands (the "context"). These functions then carry the library's ids over: a demand already in
the library keeps its group, cluster and cluster-group ids; a new demand joins the earlier group or cluster it was
found with. Earlier duplicate groups are never merged automatically: when a new demand duplicates members of two,
it joins one and a "merge_proposal" event names both, with the evidence, for staff to decide. Clusters and
cluster groups are never merged either: a new demand joins the earlier cluster most of its companions belong to,
and the earlier cluster group of that cluster. So a new call changes no earlier id; staff merge entries with
`ningliang decisions import`.
"""

from collections import Counter
from collections.abc import Iterable

import numpy as np
import pandas as pd

from . import schema as s
from .cluster import with_labels

IN_CALL = "_in_call"  # bool column: the row belongs to the call being run (False: library context)
PRIOR = {s.DUPLICATE_GROUP: "_prior_group", s.CLUSTER_ID: "_prior_cluster", s.CLUSTER_GROUP: "_prior_cluster_group"}
# an earlier cluster or group keeps its label (a run sees only the part of the library its call touches)
PRIOR_LABELS = {s.CLUSTER_LABEL: "_prior_cluster_label", s.CLUSTER_GROUP_LABEL: "_prior_cluster_group_label"}
_CONTEXT_COLUMNS = [
    s.DEMAND_ID, s.CALL_ID, s.EXTERNAL_ID, s.SOURCE_FILE, s.SOURCE_ROW, s.TITLE, s.TEXT, s.ENTERPRISE,
    s.CREDIT_CODE, s.REGION, s.FUNDING, s.COOP_MODE, s.DEADLINE, s.FLAGS, s.INDUSTRY_ID, s.CHAIN_ID,
    s.CONFIDENCE, s.INDUSTRY_CONFIDENCE, s.EVIDENCE, s.ALTERNATIVES, s.SECONDARY_CHAIN_ID, s.NEEDS_REVIEW,
    s.REVIEW_REASON,
]  # fmt: skip


def with_library(call: pd.DataFrame, library: pd.DataFrame, context: Iterable[str] | None = None) -> pd.DataFrame:
    """The call's rows (IN_CALL True) followed by the library's other demands (those in `context` when given),
    each with its prior ids and labels.

    `library` is `Library.demands()`; rows of the call that are already in it take their prior ids from it.
    """
    prior = library.set_index(s.DEMAND_ID) if len(library) else pd.DataFrame(columns=[*PRIOR, *PRIOR_LABELS])
    chosen = ~library[s.DEMAND_ID].isin(call[s.DEMAND_ID]) if len(library) else pd.Series(dtype=bool)
    if context is not None and len(library):
        chosen &= library[s.DEMAND_ID].isin(set(context))
    rows = library[chosen] if len(library) else library
    rows = rows.reindex(columns=_CONTEXT_COLUMNS)
    frame = pd.concat([call.assign(**{IN_CALL: True}), rows.assign(**{IN_CALL: False})], ignore_index=True)
    frame[s.NEEDS_REVIEW] = frame[s.NEEDS_REVIEW].fillna(False).astype(bool) if s.NEEDS_REVIEW in frame else False
    for column in (s.TITLE, s.TEXT, s.FLAGS, s.ENTERPRISE, s.CREDIT_CODE, s.REGION):
        frame[column] = frame[column].fillna("").astype(str)
    for column, prior_column in (PRIOR | PRIOR_LABELS).items():
        stored = prior[column] if column in prior.columns else pd.Series(dtype=object)
        frame[prior_column] = frame[s.DEMAND_ID].map(stored).fillna("").astype(str)
    return frame


def carry_over(
    frame: pd.DataFrame, column: str, allow_merge: bool, propose: bool = False
) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Replace the freshly computed ids in `column` by stable ones; return the frame and merge events.

    Fresh components (rows sharing a fresh id) that hold earlier ids take the smallest of them (merging the others
    into it only when `allow_merge`; otherwise each new member takes its component's most common earlier id).
    Rows with an earlier id keep it unless merged. Components without earlier ids keep their fresh id. With
    `propose` (and no merging), a component holding two earlier ids gives a "merge_proposal" event for staff.
    """
    fresh = frame[column].fillna("").astype(str)
    prior = frame[PRIOR[column]]
    final = prior.where(prior != "", fresh).copy()
    events: list[dict[str, str]] = []
    for fresh_id, members in frame.groupby(fresh, sort=True).groups.items():
        if not fresh_id:
            continue
        earlier = sorted({p for p in prior[members] if p})
        if not earlier:
            continue
        if allow_merge:
            keep = earlier[0]
            final[members] = keep
            for other in earlier[1:]:
                moved = prior.index[prior == other]
                final[moved] = keep
                events.append(_merge_event(frame, column, other, keep, members))
        else:
            new = [m for m in members if not prior[m]]
            final[new] = joined = _most_common(prior[members])
            if propose and len(earlier) > 1:
                events.append(_proposal_event(frame, column, [e for e in earlier if e != joined], joined, members))
    return frame.assign(**{column: final}), events


def _most_common(values: pd.Series) -> str:
    """The most frequent non-blank value, ties to the smallest (independent of row order); "" when none."""
    counts = Counter(v for v in values if v)
    return min(counts, key=lambda v: (-counts[v], v)) if counts else ""


def carry_earlier_ids(frame: pd.DataFrame, label_terms: int) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Carry every earlier id over (duplicate groups, clusters, cluster groups), then relabel clusters and groups.

    Returns the frame and the merge events (of duplicate groups and of cluster groups).
    """
    fresh_clusters = frame[s.CLUSTER_ID].fillna("").astype(str)
    frame, merges = carry_over(frame, s.DUPLICATE_GROUP, allow_merge=False, propose=True)
    frame, _ = carry_over(frame, s.CLUSTER_ID, allow_merge=False)
    frame, group_merges = carry_groups(frame, fresh_clusters)
    return _earlier_labels(with_labels(frame, label_terms)), merges + group_merges


def _earlier_labels(frame: pd.DataFrame) -> pd.DataFrame:
    """An earlier cluster or cluster group keeps its stored label; new ones keep the label just computed."""
    out = frame.copy()
    for label, id_column in ((s.CLUSTER_LABEL, s.CLUSTER_ID), (s.CLUSTER_GROUP_LABEL, s.CLUSTER_GROUP)):
        if PRIOR_LABELS[label] not in frame or label not in frame:
            continue
        earlier = frame[PRIOR[id_column]]
        stored = frame[PRIOR_LABELS[label]]
        known = (earlier != "") & (stored != "")
        labels = dict(zip(earlier[known], stored[known], strict=True))
        kept = frame[id_column].fillna("").astype(str).map(labels)
        out[label] = kept.where(kept.notna(), frame[label])
    return out


def carry_groups(frame: pd.DataFrame, fresh_clusters: pd.Series) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Stable CLUSTER_GROUP ids, after CLUSTER_ID has been carried over; return the frame and merge events.

    A demand with an earlier group keeps it. A demand without one takes, in this order: the earlier group of the
    cluster it joined (so groups keep nesting clusters); the earlier group most members of its fresh group hold;
    its fresh group id. Earlier groups are never merged (`_bridged_merges` finds the candidates and their evidence
    for a future staff-confirmed merge; `fresh_clusters` are the cluster ids before carrying over).
    """
    column = s.CLUSTER_GROUP
    fresh = frame[column].fillna("").astype(str)
    prior = frame[PRIOR[column]]
    new = prior == ""
    final = prior.where(~new, fresh).copy()
    for fresh_id, members in frame.groupby(fresh, sort=True).groups.items():
        earlier = _most_common(prior[members])
        if fresh_id and earlier:
            final[members[new[members].to_numpy()]] = earlier
    clusters = frame[s.CLUSTER_ID].fillna("").astype(str)
    of_cluster = prior[~new & (clusters != "")].groupby(clusters[~new & (clusters != "")]).agg(_most_common)
    joined = new & clusters.isin(of_cluster.index)
    final[joined] = clusters[joined].map(of_cluster)
    # Earlier groups are not merged automatically: a recomputed clustering straddles group borders everywhere, and
    # merging through every fresh cluster that touched two groups chained 5,169 of 10,000 earlier demands into one
    # group on a 2,000-demand second call (benchmarks/scale.py). Staff merge entries with `decisions import`.
    return frame.assign(**{column: final}), []


def _bridged_merges(
    frame: pd.DataFrame, fresh_clusters: pd.Series, bridging: pd.Series
) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Earlier cluster groups joined by a fresh cluster that also holds new demands: {merged id: kept id}, events."""
    prior = frame[PRIOR[s.CLUSTER_GROUP]]
    parent: dict[str, str] = {}

    def root(group: str) -> str:
        while parent.get(group, group) != group:
            group = parent[group]
        return group

    bridges: dict[tuple[str, str], list[str]] = {}
    for cluster, members in frame.groupby(fresh_clusters, sort=True).groups.items():
        earlier = sorted({p for p in prior[members] if p})
        links = sorted(frame.loc[members][bridging[members].to_numpy()][s.DEMAND_ID])
        if not cluster or len(earlier) < 2 or not links:
            continue
        for other in earlier[1:]:
            keep, gone = sorted((root(earlier[0]), root(other)))
            if keep != gone:
                parent[gone] = keep
                bridges[(gone, keep)] = links
    roots = {group: root(group) for group in parent}
    events = [
        {
            "kind": "merge",
            "field": s.CLUSTER_GROUP,
            "old_value": gone,
            "new_value": roots[gone],
            "evidence": f"新需求 {'、'.join(links[:5])} 与上层群组 {gone} 和 {keep} 的需求归入同一聚类，"
            f"{gone} 并入 {roots[gone]}",
        }
        for (gone, keep), links in sorted(bridges.items())
    ]
    return roots, events


MERGE_PROPOSAL = "merge_proposal"


def _proposal_event(frame: pd.DataFrame, column: str, others: list[str], joined: str, members: pd.Index) -> dict:
    """A new demand duplicates members of several earlier groups: it joined `joined`; the others stay as they are
    (an earlier id never changes) and staff decide whether the needs are one ("合并" in the draft-list review)."""
    bridge = frame.loc[members][frame.loc[members, PRIOR[column]] == ""]
    linking = "、".join(bridge[s.DEMAND_ID].head(5))
    return {
        "kind": MERGE_PROPOSAL,
        "field": column,
        "old_value": ";".join(others),
        "new_value": joined,
        "evidence": f"新需求 {linking} 与已有重复组 {joined}、{'、'.join(others)} 的需求均判定为重复；新需求归入 "
        f"{joined}，已有重复组不自动合并（编号不变），如属同一需求请在清单审核中以“合并”决定处理",
    }


def _merge_event(frame: pd.DataFrame, column: str, old: str, new: str, members: pd.Index) -> dict[str, str]:
    bridge = frame.loc[members][frame.loc[members, PRIOR[column]] == ""]
    linking = "、".join(bridge[s.DEMAND_ID].head(5))
    return {
        "kind": "merge",
        "field": column,
        "old_value": old,
        "new_value": new,
        "evidence": f"新需求 {linking} 与两组均判定为重复，{old} 并入 {new}",
    }


def changed_context(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Library rows (not in the call) whose ids in `columns` differ from their prior ones."""
    context = frame[~frame[IN_CALL]]
    changed = np.zeros(len(context), dtype=bool)
    for column in columns:
        changed |= (context[column].fillna("") != context[PRIOR[column]]).to_numpy()
    return context[changed]
