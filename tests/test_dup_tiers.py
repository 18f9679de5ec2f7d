"""The duplicate-tiers generator of `benchmarks/dedup_bench.py`: shape, determinism and what each tier plants."""

import re
import unicodedata

import pandas as pd
import pytest

from benchmarks.dup_tiers import (
    DEMAND_COLUMNS,
    DUP_TIERS,
    HARD_NEGATIVE,
    PARAPHRASE,
    TIERS,
    TRUTH_COLUMNS,
    VERBATIM,
    make_tiers,
)


@pytest.fixture(scope="module")
def call() -> pd.DataFrame:
    demands, truth = make_tiers(120, seed=3)
    assert list(demands.columns) == DEMAND_COLUMNS
    assert list(truth.columns) == TRUTH_COLUMNS
    assert (demands["demand_id"] == truth["demand_id"]).all()
    return demands.merge(truth, on="demand_id").set_index("demand_id", drop=False)


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


def test_deterministic_for_n_base_and_seed() -> None:
    first, again, other = make_tiers(60, seed=7), make_tiers(60, seed=7), make_tiers(60, seed=8)
    pd.testing.assert_frame_equal(first[0], again[0])
    pd.testing.assert_frame_equal(first[1], again[1])
    assert not first[0]["text"].equals(other[0]["text"])


def test_ids_sections_and_enterprises(call: pd.DataFrame) -> None:
    assert call["demand_id"].is_unique
    assert call["demand_id"].str.fullmatch(r"D[0-9a-f]{16}").all()
    texts = call["text"].map(_squash)  # a re-typed verbatim copy may have half-width colons
    for label in ("需求内容:", "预期目标:", "现有工作基础:"):
        assert texts.str.contains(label).all()
    assert call["enterprise"].nunique() > len(call) // 3


def test_every_tier_planted_as_a_minority(call: pd.DataFrame) -> None:
    assert set(call["tier"]) == {"", *TIERS}
    planted = (call["tier"] != "").mean()
    assert 0.15 <= planted <= 0.35
    copies = call[call["tier"] != ""]
    assert copies["base_id"].isin(call.index).all()
    assert (call.loc[copies["base_id"], "tier"] == "").all()  # copies derive from base demands only


def test_duplicate_copies_share_their_base_set(call: pd.DataFrame) -> None:
    copies = call[call["tier"].isin(DUP_TIERS)]
    assert (copies["dup_set"] != "").all()
    assert (copies["dup_set"].to_numpy() == call.loc[copies["base_id"], "dup_set"].to_numpy()).all()
    assert (copies["need_key"].to_numpy() == call.loc[copies["base_id"], "need_key"].to_numpy()).all()
    base = call[call["tier"] == ""]
    assert base["need_key"].is_unique  # n_base within the vocabulary: every base demand is a different need
    unrelated = call[(call["tier"] == "") & ~call.index.isin(copies["base_id"])]
    assert (unrelated["dup_set"] == "").all()
    assert len(unrelated) > len(call) // 2


def test_hard_negatives_never_share_a_set_with_their_source(call: pd.DataFrame) -> None:
    negatives = call[call["tier"] == HARD_NEGATIVE]
    assert (negatives["dup_set"] == "").all()
    assert (negatives["need_key"].to_numpy() != call.loc[negatives["base_id"], "need_key"].to_numpy()).all()
    for _, row in negatives.iterrows():
        base = call.loc[row["base_id"]]
        assert row["text"] != base["text"]
        assert row["title"] != base["title"]


def test_verbatim_copies_identical_after_width_and_whitespace_normalisation(call: pd.DataFrame) -> None:
    for _, row in call[call["tier"] == VERBATIM].iterrows():
        base = call.loc[row["base_id"]]
        assert _squash(row["text"]) == _squash(base["text"])
        assert _squash(row["title"]) == _squash(base["title"])


def test_other_copies_come_from_other_enterprises(call: pd.DataFrame) -> None:
    others = call[call["tier"].isin([*DUP_TIERS[1:], HARD_NEGATIVE])]
    assert (others["enterprise"].to_numpy() != call.loc[others["base_id"], "enterprise"].to_numpy()).all()


def test_paraphrases_differ_in_title_and_text(call: pd.DataFrame) -> None:
    for _, row in call[call["tier"] == PARAPHRASE].iterrows():
        base = call.loc[row["base_id"]]
        assert _squash(row["text"]) != _squash(base["text"])
        assert row["title"] != base["title"]
        shared = set(row["text"].splitlines()) & set(base["text"].splitlines())
        assert not shared  # not one section line in common
