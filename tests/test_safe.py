"""Output neutralisation: formula-like text, missing values, file names."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.safe import FORMULA_PREFIXES, safe_filename, safe_frame, safe_text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('=HYPERLINK("http://x","a")', '\'=HYPERLINK("http://x","a")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("集成电路 =1", "集成电路 =1"),
        ("", ""),
        (None, ""),
        (float("nan"), ""),
        (np.float32("nan"), ""),
        (pd.NA, ""),
        (pd.NaT, ""),
        (12, "12"),
        (-2.5, "-2.5"),
        (True, "True"),
    ],
)
def test_safe_text(value: object, expected: str) -> None:
    assert safe_text(value) == expected


def test_safe_text_neutralises_non_string_objects_by_their_text() -> None:
    class Sneaky:
        def __str__(self) -> str:
            return "=1+1"

    assert safe_text(Sneaky()) == "'=1+1"


def test_safe_frame_neutralises_text_columns_only_and_returns_a_new_frame() -> None:
    df = pd.DataFrame(
        {
            "title": ["=1+1", "正常", None],
            "obj": pd.Series(["@x", np.nan, "-1"], dtype=object),
            "funding": [-3.0, 1.0, np.nan],
            "flag": [True, False, True],
        }
    )
    out = safe_frame(df)
    assert out["title"].tolist() == ["'=1+1", "正常", ""]
    assert out["obj"].tolist() == ["'@x", "", "'-1"]
    assert out["funding"].tolist()[:2] == [-3.0, 1.0] and np.isnan(out["funding"].iloc[2])
    assert out["flag"].tolist() == [True, False, True]
    assert df["title"].tolist()[0] == "=1+1"  # input untouched


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "..\\..\\windows\\system32", "a/../b", "..", ".", "", "  ", "\x00\x1f", "a\nb", "con.txt"],
)
def test_safe_filename_stays_inside(tmp_path: Path, name: str) -> None:
    result = safe_filename(name)
    assert result
    assert "/" not in result and "\\" not in result and ".." not in result
    assert all(ch.isprintable() for ch in result)
    assert (tmp_path / result).resolve().parent == tmp_path.resolve()


def test_safe_filename_examples() -> None:
    assert safe_filename("../../etc/passwd") == "etc_passwd"
    assert safe_filename("2026年 需求征集.xlsx") == "2026年 需求征集.xlsx"
    assert safe_filename("a:b*c?.csv") == "a_b_c_.csv"
    assert safe_filename("CON") == "_CON"
    assert not safe_filename(".hidden").startswith(".")


def test_safe_filename_is_cut_to_200_bytes_keeping_the_extension() -> None:
    result = safe_filename("需求" * 200 + ".xlsx")
    assert len(result.encode("utf-8")) <= 200
    assert result.endswith(".xlsx")


def test_formula_prefixes_are_the_documented_ones() -> None:
    assert set(FORMULA_PREFIXES) == {"=", "+", "-", "@", "\t", "\r"}
