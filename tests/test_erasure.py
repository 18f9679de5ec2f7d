"""`ningliang erase`: a person's data leaves the library, the erasure is recorded without the data itself."""

import pandas as pd
from click.testing import CliRunner

from pipelines import migrations as m
from pipelines import schema as s
from pipelines.cli import main
from pipelines.store import Library


def _library(url: str) -> str:
    demands = pd.DataFrame(
        {
            s.DEMAND_ID: ["D1", "D2", "D3"],
            s.CALL_ID: "c1",
            s.TITLE: ["钒电池电解液", "白酒窖池监测", "钛合金锻件"],
            s.TEXT: ["请联系张伟，电话 138-1234-5678", "与张伟无关的需求", "联系人：李娜 13900001111"],
            s.CONTACT: ["张伟", "", "李娜"],
            s.PHONE: ["13812345678", "", "13900001111"],
        }
    )
    quarantine = pd.DataFrame(
        {
            s.CALL_ID: ["c1"], s.SOURCE_FILE: ["a.csv"], s.SOURCE_ROW: [9], "column": ["需求名称"],
            "reason": ["缺少需求名称"], "raw": ["张伟,13812345678,,"],
        }
    )  # fmt: skip
    with Library.open(url) as library:
        run = library.start_run("c1", "cfg", "tax", "use")
        library.save_call(run, demands, quarantine)
    return url


def test_erase_removes_the_person_everywhere_and_records_it_without_the_data(library_url: str) -> None:
    url = _library(library_url)  # SQLite and PostgreSQL (conftest)
    args = ["erase", "--name", "张伟", "--contact", "13812345678", "--by", "王主任", "--reason", "申请 2026-07"]
    result = CliRunner().invoke(main, [*args, "--db", url])
    assert result.exit_code == 0, result.output
    assert "需求 2 条、隔离记录 1 行" in result.output
    with Library.open(url) as library:
        stored = library.demands().set_index(s.DEMAND_ID)
        everything = " ".join(stored.fillna("").astype(str).to_numpy().ravel())
        assert "张伟" not in everything and "13812345678" not in everything and "1234-5678" not in everything
        assert stored.loc["D1", s.CONTACT] == "" and stored.loc["D1", s.PHONE] == ""
        assert stored.loc["D3", s.CONTACT] == "李娜" and "13900001111" in stored.loc["D3", s.TEXT]  # others stay
        assert "张伟" not in " ".join(library.quarantine()["raw"])
        event = library.events(kind="erasure").iloc[0]
        assert event[m.ACTOR] == "王主任" and "需求 2 条" in event[s.EVIDENCE] and "申请 2026-07" in event[s.EVIDENCE]
        assert "张伟" not in " ".join(library.events().fillna("").astype(str).to_numpy().ravel())


def test_erase_needs_an_identifier(library_url: str) -> None:
    result = CliRunner().invoke(main, ["erase", "--by", "王主任", "--db", _library(library_url)])
    assert result.exit_code == 2 and "--name" in result.output
