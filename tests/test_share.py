"""`ningliang run --share`: no output file holds the planted personal data; the library still does."""

import csv
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipelines import schema as s
from pipelines.cli import main
from pipelines.store import Library


def _id(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return first17 + "10X98765432"[sum(int(d) * w for d, w in zip(first17, weights, strict=True)) % 11]


ID_NUMBER = _id("51010419850612003")
SECRETS = ["王建国", "13987654321", "wang.jg@example.com", ID_NUMBER, "刘晓红", "028-86123456", "赵强"]
ROWS = [
    [
        "S-1",
        "钒电池电解液稳定性提升",
        "开发高稳定性钒电解液。联系人：刘晓红，电话 028-86123456。",
        "甲公司",
        "王建国",
        "13987654321",
    ],
    [
        "S-2",
        "白酒窖池温度监测",
        f"需要窖池测温系统，负责人身份证 {ID_NUMBER}，邮箱 wang.jg@example.com",
        "乙公司",
        "赵强",
        "",
    ],
    ["S-3", "钒电池电解液稳定性提升", "开发高稳定性钒电解液。联系人：刘晓红，电话 028-86123456。", "丙公司", "", ""],
    ["S-4", "", "", "", "王建国", "13987654321"],  # quarantined: the raw row keeps personal data
]


def _texts(folder: Path) -> str:
    """Every output file's text, xlsx / docx parts included."""
    parts = []
    for path in folder.rglob("*"):
        if path.suffix in (".xlsx", ".docx"):
            with zipfile.ZipFile(path) as archive:
                parts += [archive.read(n).decode("utf-8", "replace") for n in archive.namelist()]
        elif path.is_file():
            parts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


@pytest.mark.usefixtures("prefect_harness")
def test_shared_outputs_hold_no_personal_data_and_the_library_keeps_it(tmp_path: Path) -> None:
    source = tmp_path / "call.csv"
    with source.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["需求编号", "需求名称", "需求描述", "企业名称", "联系人", "联系电话"])
        writer.writerows(ROWS)
    config = tmp_path / "c.yaml"
    config.write_text(f"embed:\n  cache_dir: {tmp_path / 'cache'}\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'lib.sqlite'}"
    out = tmp_path / "out"
    args = ["run", str(source), "--call", "c1", "--db", db, "--out", str(out), "--config", str(config), "--quiet"]
    result = CliRunner().invoke(main, [*args, "--share"])
    assert result.exit_code == 0, result.output
    shared = _texts(out)
    assert "甲公司" in shared and "钒电池电解液" in shared  # the outputs are there...
    for secret in SECRETS:
        assert secret not in shared, secret  # ...without the personal data
    assert "王*" in shared or "*******4321" in shared
    with Library.open(db) as library:
        stored = library.demands().set_index(s.EXTERNAL_ID)
        assert stored.loc["S-1", s.CONTACT] == "王建国" and stored.loc["S-1", s.PHONE] == "13987654321"
        assert ID_NUMBER in stored.loc["S-2", s.TEXT]
    plain = tmp_path / "plain"
    unmasked = CliRunner().invoke(main, [*args[:7], str(plain), *args[8:]])
    assert unmasked.exit_code == 0 and "13987654321" in _texts(plain)  # without --share nothing is masked
