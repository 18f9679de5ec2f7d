"""The blank 需求征集表: drop-downs from a hidden sheet, instructions, no formulas, and a filled copy ingests."""

from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from pipelines import schema as s
from pipelines.cli import main
from pipelines.ingest import ingest_files
from pipelines.readers import match_field
from pipelines.settings import IngestConfig, PipelineConfig
from pipelines.taxonomy import load_taxonomy
from pipelines.template import COOP_MODES, FIELDS, FORM_SHEET, LISTS_SHEET, README_SHEET, write_template


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "需求征集表.xlsx"
    write_template(path, load_taxonomy(PipelineConfig().mapping.taxonomy))
    return path


def test_template_has_drop_downs_from_a_hidden_sheet_and_instructions(template: Path) -> None:
    book = openpyxl.load_workbook(template)
    assert book.sheetnames == [FORM_SHEET, README_SHEET, LISTS_SHEET]
    assert book[LISTS_SHEET].sheet_state == "hidden"
    form = book[FORM_SHEET]
    headers = [c.value for c in form[1]]
    assert headers == [f.header for f in FIELDS]
    lists = {str(dv.sqref).split(":")[0]: dv.formula1 for dv in form.data_validations.dataValidation}
    column = {h: openpyxl.utils.get_column_letter(i) for i, h in enumerate(headers, start=1)}
    assert lists[f"{column['所属产业']}2"] == f"'{LISTS_SHEET}'!$A$2:$A$7"
    assert lists[f"{column['所属产业链']}2"].startswith(f"'{LISTS_SHEET}'!$B$2")
    assert lists[f"{column['合作方式']}2"] == f"'{LISTS_SHEET}'!$C$2:$C${len(COOP_MODES) + 1}"
    hidden = book[LISTS_SHEET]
    taxonomy = load_taxonomy(PipelineConfig().mapping.taxonomy)
    assert [c.value for c in hidden["B"][1:] if c.value] == [f"{c.id} {c.name}" for c in taxonomy.chains]
    assert lists[f"{column['所属产业链']}2"] == f"'{LISTS_SHEET}'!$B$2:$B${len(taxonomy.chains) + 1}"
    assert [c.value for c in hidden["A"][1:] if c.value] == [f"{i.id} {i.name}" for i in taxonomy.industries]
    readme = " ".join(str(c.value) for row in book[README_SHEET].iter_rows() for c in row if c.value)
    assert "必填" in readme and "下拉" in readme and "技术难点" in readme


def test_template_holds_no_formula_cells(template: Path) -> None:
    book = openpyxl.load_workbook(template)
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            assert not any(c.data_type == "f" or str(c.value or "").startswith("=") for c in row)


def test_every_ingested_header_is_recognised_by_the_reader() -> None:
    read = {f.header for f in FIELDS} - {"所属产业", "所属产业链"}
    assert all(match_field(h) is not None for h in read)
    assert match_field("所属产业") is None and match_field("所属产业链") is None


def test_a_filled_template_round_trips_through_ingest(template: Path, tmp_path: Path) -> None:
    book = openpyxl.load_workbook(template)
    form = book[FORM_SHEET]
    column = {c.value: c.column for c in form[1]}
    rows = [
        {
            "需求编号": "CD-001",
            "需求名称（必填）": "动力电池隔膜耐热涂覆工艺",
            "企业名称（必填）": "成都某某新能源有限公司",
            "统一社会信用代码": "91510100MA6C000001",
            "所在市州": "成都市",
            "所属产业": "EC 能源化工",
            "需求描述（必填）": "开发耐高温隔膜涂覆工艺",
            "技术难点": "现有隔膜150℃下收缩率超过5%",
            "主要技术指标": "收缩率≤2%",
            "拟投入资金（万元）": 200,
            "合作方式": "合作开发",
            "期望完成时间": "2027年6月",
            "联系人": "王工",
            "联系电话": "13800000000",
        },
        {
            "需求名称（必填）": "数控机床主轴热误差补偿",
            "企业名称（必填）": "德阳某某装备公司",
            "所在市州": "德阳市",
            "需求描述（必填）": "主轴热变形导致加工精度下降",
            "拟投入资金（万元）": "50万",
            "合作方式": "委托开发",
        },
    ]
    for offset, values in enumerate(rows):
        for header, value in values.items():
            form.cell(row=2 + offset, column=column[header], value=value)
    filled = tmp_path / "filled.xlsx"
    book.save(filled)

    result = ingest_files([filled], "next-call", IngestConfig())

    assert result.files.iloc[0]["accepted"] == 2 and result.quarantine.empty
    demands = result.demands.set_index(s.TITLE)
    first = demands.loc["动力电池隔膜耐热涂覆工艺"]
    assert first[s.EXTERNAL_ID] == "CD-001" and first[s.CREDIT_CODE] == "91510100MA6C000001"
    assert first[s.FUNDING] == 200 and first[s.COOP_MODE] == "合作开发" and first[s.DEADLINE] == "2027年6月"
    assert first[s.REGION] == "成都市" and first[s.CONTACT] == "王工" and first[s.PHONE] == "13800000000"
    assert "技术难点：现有隔膜150℃下收缩率超过5%" in first[s.TEXT] and "收缩率≤2%" in first[s.TEXT]
    assert demands.loc["数控机床主轴热误差补偿"][s.FUNDING] == 50


def test_cli_writes_the_template(tmp_path: Path) -> None:
    out = tmp_path / "blank.xlsx"
    result = CliRunner().invoke(main, ["template", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "已生成空白需求征集表" in result.output and openpyxl.load_workbook(out).sheetnames[0] == FORM_SHEET
    wrong = CliRunner().invoke(main, ["template", "--out", str(tmp_path / "blank.csv")])
    assert wrong.exit_code == 2 and ".xlsx" in wrong.output
