"""The synthetic call generator: shape, determinism, labels, planted duplicates, and writing it to disk."""

import re
import unicodedata
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from pipelines import schema as s
from pipelines.sample import (
    CALL_HEADERS,
    CHAIN2_ID,
    COL_CREDIT_CODE,
    COL_ENTERPRISE,
    COL_FUNDING,
    COL_ID,
    COL_PHONE,
    COL_REGION,
    COL_TEXT,
    COL_TITLE,
    DUP_KIND,
    DUP_SET,
    HARD_NEGATIVE_OF,
    NEED_KEY,
    TRUTH_COLUMNS,
    generate_call,
    write_call,
)
from pipelines.sample_enterprise import credit_check_char

HEADERS = ["需求编号", "需求名称", "需求描述", "企业名称", "统一社会信用代码", "所在市州", "联系人", "联系电话",
           "拟投入资金（万元）", "合作方式", "期望完成时间"]  # fmt: skip
INDUSTRIES = {"EI", "EM", "FT", "EC", "AM", "MH"}
CHAINS = {
    "EI-IC", "EI-DISP", "EI-SW", "EI-AI", "EI-TERM", "EM-AERO", "EM-NEV", "EM-ENERGY", "EM-RAIL", "EM-SMART",
    "EC-BATT", "EC-NEWENERGY", "EC-GASCHEM", "AM-CHEMMAT", "AM-BUILD", "AM-VTI", "AM-RE", "FT-BAIJIU", "FT-FOOD",
    "FT-TEXTILE", "MH-PHARMA",
}  # fmt: skip
CITIES = {
    "成都市", "自贡市", "攀枝花市", "泸州市", "德阳市", "绵阳市", "广元市", "遂宁市", "内江市", "乐山市", "南充市",
    "眉山市", "宜宾市", "广安市", "达州市", "雅安市", "巴中市", "资阳市", "阿坝藏族羌族自治州", "甘孜藏族自治州",
    "凉山彝族自治州",
}  # fmt: skip
SHORT_REGIONS = {
    "成都", "自贡", "攀枝花", "泸州", "德阳", "绵阳", "广元", "遂宁", "内江", "乐山", "南充", "眉山", "宜宾", "广安",
    "达州", "雅安", "巴中", "资阳", "阿坝州", "阿坝", "甘孜州", "甘孜", "凉山州", "凉山",
}  # fmt: skip


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))


@pytest.fixture(scope="module")
def call360() -> tuple[pd.DataFrame, pd.DataFrame]:
    return generate_call(360, 2026)


def _records(call: pd.DataFrame, truth: pd.DataFrame) -> dict[str, dict[str, str]]:
    """需求编号 -> the call's cells and the truth's labels of that demand."""
    joined = call.set_index(COL_ID).join(truth.set_index(s.EXTERNAL_ID))
    return {str(k): {str(c): x for c, x in row.items()} for k, row in joined.to_dict("index").items()}


def _originals(rows: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    return {r[DUP_SET]: r for r in rows.values() if r[DUP_KIND] == "original"}


def test_same_seed_same_call_other_seed_other_call() -> None:
    call_a, truth_a = generate_call(150, 7)
    call_b, truth_b = generate_call(150, 7)
    pd.testing.assert_frame_equal(call_a, call_b)
    pd.testing.assert_frame_equal(truth_a, truth_b)
    call_c, _ = generate_call(150, 8)
    assert not call_a[COL_TEXT].equals(call_c[COL_TEXT])


@pytest.mark.parametrize("n", [0, 1, 19, 150])
def test_row_count_and_exact_headers(n: int) -> None:
    call, truth = generate_call(n, 1)
    assert list(call.columns) == HEADERS == CALL_HEADERS
    assert list(truth.columns) == TRUTH_COLUMNS
    assert len(call) == len(truth) == n
    assert call[COL_ID].tolist() == truth[s.EXTERNAL_ID].tolist()


def test_ids_unique_and_formatted(call360: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    call, _ = call360
    assert call[COL_ID].is_unique
    assert call[COL_ID].str.fullmatch(r"XQ2026-\d{6}").all()


def test_every_industry_and_chain_present(call360: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, truth = call360
    assert set(truth[s.INDUSTRY_ID]) == INDUSTRIES | {s.NONE}
    assert set(truth[s.CHAIN_ID]) == CHAINS | {s.NONE}


def test_truth_labels_are_consistent(call360: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, truth = call360
    for industry, chain, chain2 in zip(truth[s.INDUSTRY_ID], truth[s.CHAIN_ID], truth[CHAIN2_ID], strict=True):
        assert industry in INDUSTRIES | {s.NONE}
        assert chain == s.NONE or (chain in CHAINS and str(chain).split("-")[0] == industry)
        assert industry != s.NONE or chain == s.NONE
        assert chain2 == "" or (chain2 in CHAINS and chain2 != chain and chain != s.NONE)
    assert set(truth[DUP_KIND]) == {"", "original", "exact", "reworded"}


def test_planted_shares_near_targets(call360: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, truth = call360
    n = len(truth)
    share = {
        "exact": (truth[DUP_KIND] == "exact").sum() / n,
        "reworded": (truth[DUP_KIND] == "reworded").sum() / n,
        "straddle": (truth[CHAIN2_ID] != "").sum() / n,
        "outside": (truth[s.INDUSTRY_ID] == s.NONE).sum() / n,
        "no_chain": ((truth[s.CHAIN_ID] == s.NONE) & (truth[s.INDUSTRY_ID] != s.NONE)).sum() / n,
    }
    targets = {"exact": 0.06, "reworded": 0.08, "straddle": 0.08, "outside": 0.08, "no_chain": 0.05}
    for name, target in targets.items():
        assert abs(share[name] - target) < 0.02, (name, share[name])
    assert (truth[HARD_NEGATIVE_OF] != "").sum() >= 3


def test_each_duplicate_set_starts_with_its_original(call360: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    _, truth = call360
    for _, members in truth[truth[DUP_SET] != ""].groupby(DUP_SET, sort=False):
        kinds = members[DUP_KIND].tolist()
        assert len(kinds) >= 2 and kinds[0] == "original" and "original" not in kinds[1:]
        assert members[NEED_KEY].nunique() == 1


def test_exact_copies_have_the_same_normalised_text(call360: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rows = _records(*call360)
    originals = _originals(rows)
    exact = [r for r in rows.values() if r[DUP_KIND] == "exact"]
    assert exact
    for copy in exact:
        original = originals[copy[DUP_SET]]
        assert _norm(copy[COL_TEXT]) == _norm(original[COL_TEXT])
        assert _norm(copy[COL_TITLE]) == _norm(original[COL_TITLE])
    assert any(copy[COL_ENTERPRISE] == originals[copy[DUP_SET]][COL_ENTERPRISE] for copy in exact)
    assert any(copy[COL_TEXT] != originals[copy[DUP_SET]][COL_TEXT] for copy in exact)  # some re-typed


def test_reworded_copies_share_the_set_but_not_the_text(call360: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rows = _records(*call360)
    originals = _originals(rows)
    reworded = [r for r in rows.values() if r[DUP_KIND] == "reworded"]
    assert reworded
    for copy in reworded:
        original = originals[copy[DUP_SET]]
        assert _norm(copy[COL_TEXT]) != _norm(original[COL_TEXT])
        assert copy[COL_ENTERPRISE] != original[COL_ENTERPRISE]
        assert copy[NEED_KEY] == original[NEED_KEY]


def test_hard_negatives_are_near_copies_of_another_need(call360: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    rows = _records(*call360)
    negatives = [r for r in rows.values() if r[HARD_NEGATIVE_OF]]
    assert negatives
    for negative in negatives:
        source = rows[negative[HARD_NEGATIVE_OF]]
        assert negative[DUP_SET] == "" or negative[DUP_SET] != source[DUP_SET]
        assert negative[NEED_KEY] != source[NEED_KEY]
        assert negative[s.CHAIN_ID] == source[s.CHAIN_ID]
        assert _norm(negative[COL_TEXT]) != _norm(source[COL_TEXT])


def test_enterprise_fields_look_real(call360: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    call, _ = call360
    assert (call.groupby(COL_ENTERPRISE)[COL_CREDIT_CODE].nunique() == 1).all()
    assert (call.groupby(COL_CREDIT_CODE)[COL_ENTERPRISE].nunique() == 1).all()
    assert call[COL_ENTERPRISE].nunique() < len(call)  # some enterprises submit several demands
    for code in call[COL_CREDIT_CODE]:
        assert len(code) == 18 and code[-1] == credit_check_char(code[:17])
    assert call[COL_PHONE].str.fullmatch(r"1[3-9]\d{9}|0\d{2,3}-\d{7,8}").all()
    assert set(call[COL_REGION]) <= CITIES | SHORT_REGIONS
    assert set(call[COL_REGION]) & SHORT_REGIONS
    assert call[COL_FUNDING].isna().any() and (call[COL_FUNDING].dropna() > 0).all()
    for text in call[COL_TEXT]:
        assert all(label in _norm(text) for label in ("需求内容:", "预期目标:", "现有工作基础:"))


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_write_call_round_trip(tmp_path: Path, suffix: str) -> None:
    call, truth = generate_call(60, 5)
    out = tmp_path / "sub" / f"call{suffix}"
    truth_path = write_call(call, truth, out)
    assert truth_path == tmp_path / "sub" / "call-truth.csv"
    if suffix == ".xlsx":
        sheet = openpyxl.load_workbook(out, read_only=True).worksheets[0]
        assert [c.value for c in next(sheet.iter_rows(max_row=1))] == HEADERS
        back = pd.read_excel(out, dtype=str, keep_default_na=False)
    else:
        assert out.read_bytes().startswith(b"\xef\xbb\xbf")
        back = pd.read_csv(out, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    assert list(back.columns) == HEADERS
    text_columns = [c for c in HEADERS if c != COL_FUNDING]
    pd.testing.assert_frame_equal(back[text_columns], call[text_columns])
    funding = pd.to_numeric(back[COL_FUNDING].replace("", None))
    pd.testing.assert_series_equal(funding, call[COL_FUNDING], check_names=False)
    truth_back = pd.read_csv(truth_path, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(truth_back, truth)


def test_write_call_rejects_other_extensions(tmp_path: Path) -> None:
    call, truth = generate_call(5, 1)
    with pytest.raises(ValueError, match="xlsx"):
        write_call(call, truth, tmp_path / "call.json")
    assert list(tmp_path.iterdir()) == []
