"""A supervised mapper learned from human decisions (chain leads' corrections and confirmations).

Logistic regression on the demand's sentence vectors (title and body) and its hashed segmented terms. It only knows
the answers humans have given, so it never replaces the zero-shot mapper: its probabilities are blended in with a
weight (an exponent in a product of experts) that grows with the number of decisions it learned from
(n / (n + half_weight), capped), and every blended demand says so in its evidence.

The fitted model belongs to the library it learned from: `to_bytes` / `from_bytes` give a plain numpy archive (no
pickle, so a library file cannot carry code) that the library stores under the model's version, a hash of what it
learned from.
"""

import hashlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression

from . import schema as s
from .mapping import Label
from .settings import MappingConfig

HASH_FEATURES = 2**12
FEATURE_SPEC = f"title+body vectors, hashed terms {HASH_FEATURES}"


def _hasher() -> HashingVectorizer:
    return HashingVectorizer(
        n_features=HASH_FEATURES, analyzer=str.split, alternate_sign=False, norm="l2", lowercase=False
    )


def features(title_vecs: np.ndarray, body_vecs: np.ndarray, tokens: Sequence[str]) -> np.ndarray:
    """Dense (n, 2 * dim + HASH_FEATURES) features; a demand with no body repeats its title vector."""
    has_body = (np.linalg.norm(body_vecs, axis=1) > 0)[:, None]
    body = np.where(has_body, body_vecs, title_vecs)
    terms = _hasher().transform([str(t) for t in tokens]).toarray().astype(np.float32)
    return np.hstack([title_vecs, body, terms]).astype(np.float32)


def label_key(industry_id: str, chain_id: str) -> str:
    return f"{industry_id}/{chain_id}"


def model_version(demand_ids: Sequence[str], keys: Sequence[str], encoder_name: str, config: MappingConfig) -> str:
    """Hash of the (demand, answer) decisions, the encoder, the feature layout and the regularisation."""
    rows = sorted(zip(demand_ids, keys, strict=True))
    payload = json.dumps([rows, encoder_name, FEATURE_SPEC, config.learned_c], ensure_ascii=False)
    return "L" + hashlib.sha256(payload.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class CorrectionModel:
    """A fitted model: its version, what it learned from, and the logistic-regression parameters."""

    version: str
    encoder: str
    n_decisions: int
    classes: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray

    @classmethod
    def fit(
        cls, X: np.ndarray, keys: Sequence[str], version: str, encoder: str, config: MappingConfig
    ) -> "CorrectionModel":
        """Fit on features X and label keys ("EM/EM-SMART"); needs at least two distinct answers."""
        classes = sorted(set(keys))
        if len(classes) < 2:
            raise ValueError("纠正模型至少需要两种不同的人工判定")
        lr = LogisticRegression(C=config.learned_c, max_iter=2000)
        lr.fit(X, list(keys))
        return cls(version, encoder, len(keys), tuple(str(c) for c in lr.classes_), lr.coef_, lr.intercept_)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """(n, classes) probabilities (binary models included)."""
        logits = X @ self.coef.T + self.intercept
        if logits.shape[1] == 1:
            logits = np.hstack([-logits, logits])
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return np.asarray(p / p.sum(axis=1, keepdims=True))

    def weight(self, config: MappingConfig) -> float:
        """The learned model's share of the blend: grows with the decisions it learned from, capped."""
        return min(config.learned_max_weight, self.n_decisions / (self.n_decisions + config.learned_half_weight))

    def opinion(self, X: np.ndarray, config: MappingConfig) -> "LearnedBlend":
        return LearnedBlend(self, self.predict_proba(X), self.weight(config))

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        meta = {"version": self.version, "encoder": self.encoder, "n": self.n_decisions, "classes": self.classes}
        np.savez_compressed(buffer, coef=self.coef, intercept=self.intercept, meta=np.array(json.dumps(meta)))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, payload: bytes) -> "CorrectionModel":
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            return cls(
                meta["version"], meta["encoder"], int(meta["n"]), tuple(meta["classes"]),
                archive["coef"], archive["intercept"],
            )  # fmt: skip


@dataclass(frozen=True)
class LearnedBlend:
    """A fitted model's probabilities for a batch of demands, blended into the mapper's label probabilities."""

    model: CorrectionModel
    proba: np.ndarray  # (n, classes)
    weight: float

    def rows(self, start: int, stop: int) -> "LearnedBlend":
        """The opinion on demands [start, stop) of the batch (a partition of the call's rows)."""
        return LearnedBlend(self.model, self.proba[start:stop], self.weight)

    def blend(self, probs: np.ndarray, labels: Sequence[Label]) -> np.ndarray:
        """A product of experts: zero-shot x learned ** w, renormalised. A linear mixture would flatten every
        confidence (the learned model spreads its probability over many answers after few decisions), so staff
        could no longer trust the high band; the product keeps the zero-shot spread and moves the answers the
        learned model favours. A label it never saw gets a floor (1 / (10 x its classes)); a class standing for
        several labels (the outside prototypes share NONE/NONE) gives each of them its probability."""
        keys = [label_key(label.industry_id, label.chain_id) for label in labels]
        floor = 1.0 / (10 * len(self.model.classes))
        learned = np.full_like(probs, floor)
        for c, key in enumerate(self.model.classes):
            cols = [j for j, k in enumerate(keys) if k == key]
            learned[:, cols] = self.proba[:, [c]] + floor  # no columns: a chain since removed from the taxonomy
        mixed = probs * learned**self.weight
        return np.asarray(mixed / mixed.sum(axis=1, keepdims=True))

    def evidence(self, row: int) -> str:
        best = int(np.argmax(self.proba[row]))
        return (
            f"人工更正学习模型 {self.model.version}（{self.model.n_decisions} 条人工判定，权重 {self.weight:.2f}）："
            f"{self.model.classes[best]} {self.proba[row, best]:.2f}"
        )


def training_set(frame: pd.DataFrame, decisions: pd.DataFrame, config: MappingConfig) -> tuple[list[int], list[str]]:
    """Row positions in `frame` of the human-decided demands it holds and their label keys; empty when there are
    fewer than `learned_min_decisions` or only one distinct answer (nothing to learn)."""
    position = {d: i for i, d in enumerate(frame[s.DEMAND_ID])}
    present = decisions[decisions[s.DEMAND_ID].isin(position)].sort_values(s.DEMAND_ID)
    keys = [label_key(i, c) for i, c in zip(present[s.INDUSTRY_ID], present[s.CHAIN_ID], strict=True)]
    if len(keys) < config.learned_min_decisions or len(set(keys)) < 2:
        return [], []
    return [position[d] for d in present[s.DEMAND_ID]], keys
