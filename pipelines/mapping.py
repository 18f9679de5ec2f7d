"""Zero-shot mapping of demands to the six industries and their key chains.

Every demand is scored against labels: one per chain, one "in the industry but no key chain" label per industry,
and one per prototype of demands outside the six industries. A label's score combines
- semantic similarity: the best cosine between the demand (title and body encoded separately, weighted) and the
  label's short scope phrases, and
- lexical evidence: taxonomy keywords found in the title (weighted x3) and body,
plus the taxonomy's conflict rules. A softmax over labels gives probabilities; the industry is the one with the
largest summed probability and the chain the best label inside it. `industry_id`/`chain_id` always hold the best
answer; uncertainty is expressed by `confidence` and `needs_review`, never by NONE.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd

from . import schema as s
from .embed import Encoder
from .keywords import TITLE, KeywordIndex
from .settings import MappingConfig
from .taxonomy import Taxonomy

MAPPING_COLUMNS = [
    s.INDUSTRY_ID, s.INDUSTRY, s.CHAIN_ID, s.CHAIN, s.CONFIDENCE, s.INDUSTRY_CONFIDENCE, s.EVIDENCE, s.ALTERNATIVES,
    s.SECONDARY_CHAIN_ID, s.NEEDS_REVIEW, s.REVIEW_REASON,
]  # fmt: skip


@dataclass(frozen=True)
class Label:
    """One candidate answer: industry NONE or one of the six, chain NONE or a chain id."""

    industry_id: str
    chain_id: str
    name: str
    phrases: tuple[str, ...]
    keywords: tuple[str, ...]


class LearnedOpinion(Protocol):
    """What a model trained on human decisions contributes to the zero-shot probabilities."""

    def blend(self, probs: np.ndarray, labels: Sequence[Label]) -> np.ndarray:
        """(n, labels) probabilities in, the blended (n, labels) probabilities out, rows summing to 1."""
        ...

    def evidence(self, row: int) -> str:
        """One line of Chinese evidence for demand `row`: what the learned model said and how much it counted."""
        ...


def build_labels(taxonomy: Taxonomy) -> list[Label]:
    """Chains, then each industry's no-chain label, then the outside prototypes (all industry NONE)."""
    labels = []
    for industry in taxonomy.industries:
        for chain in industry.chains:
            phrases = (chain.name, *chain.scope)
            labels.append(Label(industry.id, chain.id, chain.name, phrases, (chain.name, *chain.keywords)))
        no_chain = taxonomy.no_chain.get(industry.id, ())
        phrases = no_chain or (industry.name, *industry.scope)
        labels.append(Label(industry.id, s.NONE, f"{industry.name}（无对应重点产业链）", phrases, ()))
    for proto in taxonomy.outside:
        labels.append(Label(s.NONE, s.NONE, proto.name, (proto.name, *proto.scope), proto.keywords))
    return labels


@dataclass(frozen=True)
class Similarities:
    """Per demand and label (n, labels): the combined semantic score the softmax starts from, the scope similarity
    shown as evidence, and the index of the nearest scope phrase."""

    combined: np.ndarray
    semantic: np.ndarray
    phrase: np.ndarray

    def rows(self, start: int, stop: int) -> "Similarities":
        return Similarities(self.combined[start:stop], self.semantic[start:stop], self.phrase[start:stop])


class IndustryMapper:
    """fit() encodes the taxonomy's scope phrases; predict() adds the mapping columns to a demands frame."""

    def __init__(
        self, taxonomy: Taxonomy, encoder: Encoder, config: MappingConfig, second: Encoder | None = None
    ) -> None:
        self.taxonomy = taxonomy
        self.encoder = encoder
        self.config = config
        self.second = second

    def fit(self) -> "IndustryMapper":
        labels = build_labels(self.taxonomy)
        phrases = [p for label in labels for p in label.phrases]
        owner = [i for i, label in enumerate(labels) for _ in label.phrases]
        self.labels_ = labels
        self.phrase_texts_ = phrases
        if self.second is not None:
            # e5's cosines crowd into 0.9-0.98: centring on the taxonomy's own phrases spreads them out
            self.second_centre_ = self.second.encode(phrases).mean(axis=0)
        self.phrase_vectors_ = self.joint_vectors(self.encoder.encode(phrases), phrases)
        self.phrase_owner_ = np.asarray(owner)
        self.industry_keywords_ = {i.id: i.keywords for i in self.taxonomy.industries}
        lists = [label.keywords for label in labels] + list(self.industry_keywords_.values())
        self.keyword_index_ = KeywordIndex(lists)
        industries = list(self.taxonomy.industries)
        self.industry_vectors_ = [
            self.joint_vectors(self.encoder.encode([i.name, *i.scope]), [i.name, *i.scope]) for i in industries
        ]
        position = {i.id: k for k, i in enumerate(industries)}
        self.label_industry_ = np.asarray([position.get(label.industry_id, -1) for label in labels])
        return self

    def joint_vectors(
        self, vectors: np.ndarray, texts: Sequence[str] | None = None, second: np.ndarray | None = None
    ) -> np.ndarray:
        """The first encoder's vectors, joined with the centred second encoder's (of `texts`, or given) so that a
        dot product is the weighted mean of both cosines; zero rows (no body) stay zero."""
        if self.second is None:
            return vectors
        if second is None:
            second = self.second.encode(list(texts or []))
        w = self.config.second_weight
        centred = second - self.second_centre_
        centred /= np.maximum(np.linalg.norm(centred, axis=1, keepdims=True), 1e-12)
        joint = np.hstack([math.sqrt(1 - w) * vectors, math.sqrt(w) * centred])
        joint[np.linalg.norm(vectors, axis=1) == 0] = 0.0
        return np.asarray(joint / np.maximum(np.linalg.norm(joint, axis=1, keepdims=True), 1e-12), dtype=np.float32)

    def industry_scores(self, vectors: np.ndarray) -> np.ndarray:
        """(n, labels) best cosine with the label's industry scope phrases (outside labels: 0)."""
        per_industry = np.stack([(vectors @ v.T).max(axis=1) for v in self.industry_vectors_], axis=1)
        padded = np.hstack([per_industry, np.zeros((len(vectors), 1), dtype=per_industry.dtype)])
        return padded[:, self.label_industry_]

    def semantic_scores(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, labels) best phrase cosine per label, and the index of that phrase."""
        sims = vectors @ self.phrase_vectors_.T
        best = np.full((len(vectors), len(self.labels_)), -1.0, dtype=np.float32)
        arg = np.zeros((len(vectors), len(self.labels_)), dtype=int)
        for j in range(len(self.labels_)):
            cols = np.flatnonzero(self.phrase_owner_ == j)
            block = sims[:, cols]
            best[:, j] = block.max(axis=1)
            arg[:, j] = cols[block.argmax(axis=1)]
        return best, arg

    def predict(
        self,
        demands: pd.DataFrame,
        title_vecs: np.ndarray,
        body_vecs: np.ndarray,
        learned: LearnedOpinion | None = None,
        second_vecs: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> pd.DataFrame:
        """Add INDUSTRY_ID, INDUSTRY, CHAIN_ID, CHAIN, CONFIDENCE, INDUSTRY_CONFIDENCE, EVIDENCE, ALTERNATIVES,
        SECONDARY_CHAIN_ID, NEEDS_REVIEW, REVIEW_REASON.

        Input columns: NORM_TITLE, CORE_TEXT, FLAGS; vectors row-aligned with the frame, L2-normalised.
        A demand with no body (empty body vector row) is scored on its title alone. `learned`, when given, is
        the opinion of the model trained on chain leads' corrections, blended into the zero-shot probabilities.
        `second_vecs` (title, body) of the second encoder are required when the mapper has one.
        Same as `describe(demands, similarities(...), learned)`.
        """
        return self.describe(demands, self.similarities(title_vecs, body_vecs, second_vecs), learned)

    def similarities(
        self,
        title_vecs: np.ndarray,
        body_vecs: np.ndarray,
        second_vecs: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Similarities:
        """The semantic part of `predict`, all rows at once (matrix products: a row's float bits depend on how many
        rows are multiplied together, so a partitioned run computes this for the whole call and partitions
        `describe`)."""
        if self.second is not None:
            if second_vecs is None:
                raise ValueError("IndustryMapper.predict: second_vecs needed with a second encoder")
            title_vecs = self.joint_vectors(title_vecs, second=second_vecs[0])
            body_vecs = self.joint_vectors(body_vecs, second=second_vecs[1])
        t_sim, t_arg = self.semantic_scores(title_vecs)
        b_sim, b_arg = self.semantic_scores(body_vecs)
        has_body = (np.linalg.norm(body_vecs, axis=1) > 0)[:, None]
        w = self.config.title_weight
        sem = np.where(has_body, w * t_sim + (1 - w) * b_sim, t_sim)
        t_ind, b_ind = self.industry_scores(title_vecs), self.industry_scores(body_vecs)
        ind = np.where(has_body, w * t_ind + (1 - w) * b_ind, t_ind)
        # outside prototypes have no industry level: their own similarity stands in for it
        ind = np.where(self.label_industry_ < 0, sem, ind)
        arg = np.where(t_sim >= b_sim, t_arg, b_arg)
        return Similarities(combined=sem + self.config.industry_weight * ind, semantic=sem, phrase=arg)

    def describe(
        self, demands: pd.DataFrame, sims: Similarities, learned: LearnedOpinion | None = None
    ) -> pd.DataFrame:
        """The mapping columns from the rows' similarities, keywords and conflict rules, row by row (rows are
        independent: a partition of the rows, with the same rows of `sims` and of `learned`, gives the same rows)."""
        s.require_columns(demands, [s.NORM_TITLE, s.CORE_TEXT], "IndustryMapper.predict")
        titles, cores = demands[s.NORM_TITLE].tolist(), demands[s.CORE_TEXT].tolist()
        scored = [self._score(t, c, sims.combined[i]) for i, (t, c) in enumerate(zip(titles, cores, strict=True))]
        probs = np.stack([p for p, _, _, _ in scored]) if scored else np.zeros((0, len(self.labels_)))
        if learned is not None:
            probs = learned.blend(probs, self.labels_)
        sem, arg = sims.semantic, sims.phrase
        rows = [
            self._describe(probs[i], sem[i], arg[i], hits, notes, secondary, flags, learned, i)
            for i, ((_, hits, notes, secondary), flags) in enumerate(zip(scored, _flags(demands), strict=True))
        ]
        result = pd.DataFrame(rows, index=demands.index, columns=MAPPING_COLUMNS)
        return demands.assign(**{str(c): result[c] for c in result.columns})

    def _score(
        self, title: str, core: str, combined: np.ndarray
    ) -> tuple[np.ndarray, list[list[tuple[str, str]]], list[str], str]:
        """Label probabilities from similarity, keywords and conflict rules, with the hits and rules behind them."""
        title_l, body_l = title.lower(), core.lower()
        logits = combined / self.config.temperature
        hits = self.keyword_index_.hits(title_l, body_l)  # a list per label, then one per industry
        ind_hits = dict(zip(self.industry_keywords_, hits[len(self.labels_) :], strict=True))
        for j, label in enumerate(self.labels_):
            weight = float(sum(3 if where == TITLE else 1 for _, where in hits[j]))
            weight += 0.5 * sum(3 if where == TITLE else 1 for _, where in ind_hits.get(label.industry_id, []))
            logits[j] += self.config.keyword_weight * math.log1p(weight)
        rule_notes, secondary = self._apply_rules(title_l, body_l, logits)
        probs = np.exp(logits - logits.max())
        return probs / probs.sum(), hits[: len(self.labels_)], rule_notes, secondary

    def _rule_targets(self, label_id: str) -> list[int]:
        """Label indices a conflict-rule id stands for: a chain, a whole industry, or every outside prototype."""
        industry, chain = self.taxonomy.resolve(label_id)
        return [
            j
            for j, label in enumerate(self.labels_)
            if label.industry_id == industry and (chain is None or label.chain_id == chain)
        ]

    def _apply_rules(self, title: str, body: str, logits: np.ndarray) -> tuple[list[str], str]:
        """Conflict rules whose term occurs lift the preferred labels above the ones they win over."""
        notes, secondary = [], ""
        for rule in self.taxonomy.conflict_rules:
            term = next((t for t in rule.terms if t.lower() in title or t.lower() in body), None)
            if term is None:
                continue
            prefer = self._rule_targets(rule.prefer)
            over = [j for label_id in rule.over for j in self._rule_targets(label_id) if j not in prefer]
            top = max(logits[j] for j in prefer + over)
            logits[prefer] += top + 1.0 - logits[prefer].max()
            for j in over:
                logits[j] = min(logits[j], top - 1.0)
            secondary = secondary or (rule.secondary or "")
            notes.append(f"规则「{term}」→ {rule.prefer}" + (f"（{rule.note}）" if rule.note else ""))
        return notes, secondary

    def _describe(
        self,
        probs: np.ndarray,
        sem: np.ndarray,
        arg: np.ndarray,
        hits: list[list[tuple[str, str]]],
        rule_notes: list[str],
        secondary: str,
        flags: str,
        learned: LearnedOpinion | None,
        row: int,
    ) -> dict[str, object]:
        industry_probs: dict[str, float] = {}
        for label, p in zip(self.labels_, probs, strict=True):
            industry_probs[label.industry_id] = industry_probs.get(label.industry_id, 0.0) + float(p)
        industry = max(industry_probs, key=lambda k: (industry_probs[k], k))
        industry_conf = industry_probs[industry]
        inside = [j for j, label in enumerate(self.labels_) if label.industry_id == industry]
        best = max(inside, key=lambda j: probs[j])
        label = self.labels_[best]
        order = [j for j in np.argsort(-probs, kind="stable") if j != best]
        alternatives = ";".join(
            f"{self.labels_[j].industry_id}/{self.labels_[j].chain_id}:{probs[j]:.3f}" for j in order[:3]
        )
        if not secondary:
            second = next((j for j in order if self.labels_[j].chain_id != s.NONE), None)
            if second is not None and probs[second] >= self.config.secondary_ratio * probs[best]:
                secondary = self.labels_[second].chain_id
        if secondary == label.chain_id:
            secondary = ""
        evidence = [f"判定：{label.name}（概率 {probs[best]:.2f}）"]
        if hits[best]:
            evidence.append("关键词：" + "、".join(f"{k}({w})" for k, w in hits[best][:6]))
        evidence.append(f"语义最近：「{self.phrase_texts_[arg[best]]}」相似度 {sem[best]:.2f}")
        evidence.extend(rule_notes)
        if learned is not None:
            evidence.append(learned.evidence(row))
        reasons = []
        if probs[best] < self.config.review_below:
            reasons.append(f"置信度低（{probs[best]:.2f} < {self.config.review_below:.2f}）")
        if "no_description" in flags:
            reasons.append("无需求描述，仅按名称映射")
        return {
            s.INDUSTRY_ID: industry,
            s.INDUSTRY: self.taxonomy.industry_name(industry),
            s.CHAIN_ID: label.chain_id,
            s.CHAIN: self.taxonomy.chain_name(label.chain_id),
            s.CONFIDENCE: round(float(probs[best]), 4),
            s.INDUSTRY_CONFIDENCE: round(industry_conf, 4),
            s.EVIDENCE: "；".join(evidence),
            s.ALTERNATIVES: alternatives,
            s.SECONDARY_CHAIN_ID: secondary,
            s.NEEDS_REVIEW: bool(reasons),
            s.REVIEW_REASON: "；".join(reasons),
        }


def _flags(demands: pd.DataFrame) -> list[str]:
    if s.FLAGS in demands.columns:
        return demands[s.FLAGS].fillna("").astype(str).tolist()
    return [""] * len(demands)
