from pathlib import Path

import pandas as pd
import pytest

from pipelines import schema as s
from pipelines import segment
from pipelines.segment import Segmenter, read_word_list, segment_demands
from pipelines.settings import SegmentConfig


def _config(tmp_path: Path, stopwords: str = "研发\n需要\n") -> SegmentConfig:
    (tmp_path / "stop.txt").write_text("# form words\n" + stopwords, encoding="utf-8")
    return SegmentConfig(stopwords=tmp_path / "stop.txt", user_dict=tmp_path / "none.txt")


def test_taxonomy_terms_stay_whole(tmp_path: Path) -> None:
    plain = Segmenter(_config(tmp_path)).fit().tokenize("全钒液流电池电解液")
    with_terms = Segmenter(_config(tmp_path), ["全钒液流电池"]).fit().tokenize("全钒液流电池电解液")
    assert "全钒液流电池" not in plain
    assert "全钒液流电池" in with_terms


def test_stopwords_numbers_and_punctuation_are_dropped(tmp_path: Path) -> None:
    tokens = Segmenter(_config(tmp_path)).fit().tokenize("需要研发磷酸铁锂正极，循环寿命≥3000次。")
    assert "研发" not in tokens and "需要" not in tokens
    assert "3000" not in tokens and "，" not in tokens
    assert "磷酸" in tokens or "磷酸铁锂" in tokens


def test_latin_terms_are_lowercased(tmp_path: Path) -> None:
    assert "igbt" in Segmenter(_config(tmp_path)).fit().tokenize("IGBT模块封装")


def test_two_segmenters_do_not_share_user_terms(tmp_path: Path) -> None:
    a = Segmenter(_config(tmp_path), ["窖泥微生物"]).fit()
    b = Segmenter(_config(tmp_path)).fit()
    assert "窖泥微生物" in a.tokenize("窖泥微生物培养")
    assert "窖泥微生物" not in b.tokenize("窖泥微生物培养")


def test_read_word_list_ignores_comments_and_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "w.txt"
    path.write_text("# header\n甲  # note\n\n乙\n", encoding="utf-8")
    assert read_word_list(path) == ["甲", "乙"]
    assert read_word_list(tmp_path / "missing.txt") == []


def test_segment_demands_adds_tokens(tmp_path: Path) -> None:
    frame = pd.DataFrame({s.CORE_TEXT: ["钛合金锻件\n热处理", ""], s.NORM_TITLE: ["钛合金锻件", ""]})
    out = segment_demands(frame, Segmenter(_config(tmp_path)).fit())
    assert out.loc[0, s.TOKENS].split() and out.loc[1, s.TOKENS] == ""
    assert "热处理" not in out.loc[0, s.TITLE_TOKENS] and out.loc[0, s.TITLE_TOKENS].split()
    assert s.TOKENS not in frame.columns


_MIXED_TEXTS = [
    "需要研发全钒液流电池电解液，导航定位精度≤0.02mm，AR-HUD抬头显示，Low-E玻璃镀膜。",
    "窖泥微生物培养及原酒风味物质组学分析，储能容量4.5kWh，能耗降低12.5%。",
    "IGBT模块封装与SiC功率器件可靠性测试，重复定位精度不高于0.005mm，重量2.0g。",
]


def test_rjieba_and_jieba_give_the_same_tokens(tmp_path: Path) -> None:
    terms = ["全钒液流电池", "窖泥微生物", "功率器件"]
    for hmm in (True, False):
        rust = Segmenter(_config(tmp_path).model_copy(update={"engine": "rjieba", "use_hmm": hmm}), terms).fit()
        python = Segmenter(_config(tmp_path).model_copy(update={"engine": "jieba", "use_hmm": hmm}), terms).fit()
        assert rust.engine_ == "rjieba" and python.engine_ == "jieba"
        for text in _MIXED_TEXTS:
            assert rust.tokenize(text) == python.tokenize(text), (hmm, text)


def test_jieba_is_the_fallback_when_rjieba_is_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segment, "rjieba", None)
    seg = Segmenter(_config(tmp_path), ["全钒液流电池"]).fit()
    assert seg.engine_ == "jieba"
    assert "全钒液流电池" in seg.tokenize("全钒液流电池电解液")
