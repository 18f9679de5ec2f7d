"""Output writers: CSV exports, the reviewers' workbook, the HTML report, the manifest."""

import csv
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pandas as pd
import pytest

from pipelines import schema as s
from pipelines.report import (
    FILES_COLUMNS,
    OUTPUT_FILES,
    ReportBundle,
    json_for_html,
    script_hash,
    write_csv,
    write_draft_workbook,
    write_html,
    write_manifest,
    write_outputs,
)
from pipelines.safe import FORMULA_PREFIXES

SCRIPT = "<script>alert(1)</script>"
IMG = "<img src=x onerror=alert(1)>"
HYPERLINK = '=HYPERLINK("http://evil.example","点我")'


def _demand(demand_id: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {c: "" for c in s.DEMANDS_EXPORT_COLUMNS}
    row.update(
        {
            s.DEMAND_ID: demand_id,
            s.CALL_ID: "call-1",
            s.SOURCE_FILE: "征集表.xlsx",
            s.SOURCE_ROW: 2,
            s.FUNDING: 10.0,
            s.CONFIDENCE: 0.9,
            s.INDUSTRY_CONFIDENCE: 0.95,
            s.NEEDS_REVIEW: False,
            s.DUPLICATE_SCORE: np.nan,
            s.INDUSTRY_ID: "EI",
            s.INDUSTRY: "电子信息",
            s.CHAIN_ID: "EI-01",
            s.CHAIN: "集成电路",
        }
    )
    row.update(values)
    return row


def _draft(entry_id: str, industry: str, chain_id: str, chain: str, members: int, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        s.ENTRY_ID: entry_id,
        s.INDUSTRY_ID: s.NONE if industry == "六大产业之外" else industry[:2],
        s.INDUSTRY: industry,
        s.CHAIN_ID: chain_id,
        s.CHAIN: chain,
        "entry_kind": "single",
        "draft_title": f"标题{entry_id}",
        "label": "",
        "member_count": members,
        "duplicate_rows": 0,
        "enterprise_count": 1,
        "enterprises": "企业甲",
        "regions": "成都市",
        "funding_total": 0.0,
        "confidence": 0.8,
        "needs_review_count": 0,
        "member_ids": "D1",
    }
    row.update(values)
    return row


def make_bundle(extra_group_members: int = 0) -> ReportBundle:
    demands = [
        _demand(
            "D1",
            **{
                s.TITLE: HYPERLINK,
                s.TEXT: "\t=1",
                s.ENTERPRISE: SCRIPT,
                s.EVIDENCE: IMG,
                s.NEEDS_REVIEW: True,
                s.REVIEW_REASON: "\r=2",
                s.CONFIDENCE: 0.833333333,
                s.FUNDING: 100.5,
                s.DUPLICATE_GROUP: "G1",
                s.DUPLICATE_KIND: "near",
                s.DUPLICATE_REASON: "重复组代表条目",
                s.CLUSTER_ID: "C1",
                s.CLUSTER_LABEL: "=cmd|' /C calc'!A0",
            },
        ),
        _demand(
            "D2",
            **{
                s.TITLE: "+1",
                s.ENTERPRISE: "@SUM(A1)",
                s.DUPLICATE_GROUP: "G1",
                s.DUPLICATE_KIND: "near",
                s.DUPLICATE_OF: "D1",
                s.DUPLICATE_SCORE: 0.91234567,
                s.DUPLICATE_REASON: IMG,
                s.FUNDING: np.nan,
                s.CLUSTER_ID: "C1",
            },
        ),
        _demand(
            "D3",
            **{
                s.TITLE: "-2+3",
                s.ENTERPRISE: "企业丙",
                s.INDUSTRY_ID: "EM",
                s.INDUSTRY: "装备制造",
                s.CHAIN_ID: "EM-01",
                s.CHAIN: "航空航天",
                s.NEEDS_REVIEW: True,
                s.EVIDENCE: "关键词：发动机",
                s.REVIEW_REASON: "置信度低于 0.5",
                s.CONFIDENCE: 0.3,
            },
        ),
        _demand(
            "D4",
            **{s.TITLE: "@SUM(1)", s.INDUSTRY_ID: s.NONE, s.INDUSTRY: "六大产业之外", s.CHAIN_ID: s.NONE, s.CHAIN: ""},
        ),
    ]
    demands += [
        _demand(f"DX{i:03d}", **{s.TITLE: f"成员{i}", s.DUPLICATE_GROUP: "G1", s.DUPLICATE_OF: "D1"})
        for i in range(extra_group_members)
    ]
    drafts = [
        _draft("C1", "电子信息", "EI-01", "集成电路", 2, entry_kind="cluster", draft_title=HYPERLINK, label="=cmd"),
        _draft("S3", "装备制造", "EM-01", "航空航天", 1, draft_title="-2+3", enterprises=SCRIPT, regions=""),
        _draft("S4", "六大产业之外", s.NONE, "", 1, draft_title="@SUM(1)", funding_total=12.5),
        _draft("S9", "电子信息", "EI-02", "新型显示", 1, draft_title="显示"),
        _draft("S8", "电子信息", "EI-01", "集成电路", 5, draft_title="大条目"),
    ]
    clusters = pd.DataFrame(
        [
            {
                s.CLUSTER_ID: "C1",
                "industry_id": "EI",
                "chain_id": "EI-01",
                "chain": "集成电路",
                "label": "=cmd",
                "size": 2,
                "n_enterprises": 2,
                "n_duplicate_groups": 1,
                "representative_id": "D1",
                "representative_title": HYPERLINK,
                "member_ids": "D1;D2",
                s.CLUSTER_GROUP: "K1",
                s.CLUSTER_GROUP_LABEL: "芯片、封装",
            }
        ]
    )
    raw = json.dumps({"需求名称": "=1+1"}, ensure_ascii=False)
    quarantine = pd.DataFrame(
        [["call-1", "征集表.xlsx", 7, "企业名称", "-缺少企业名称", raw]],
        columns=s.QUARANTINE_EXPORT_COLUMNS,
    )
    files = pd.DataFrame(
        [["征集表.xlsx", "ab" * 32, 6, 4, 1, ""], ["坏文件.xlsx", "cd" * 32, 0, 0, 0, SCRIPT]],
        columns=FILES_COLUMNS,
    )
    manifest = {"call_id": "call-1", "counts": {"accepted": np.int64(4)}, "名称": "测试", "score": float("nan")}
    return ReportBundle("call-1", pd.DataFrame(demands), clusters, pd.DataFrame(drafts), quarantine, files, manifest)


def _read_csv(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM missing"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


# --- CSV --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attr", "columns"),
    [
        ("demands", s.DEMANDS_EXPORT_COLUMNS),
        ("clusters", s.CLUSTERS_EXPORT_COLUMNS),
        ("quarantine", s.QUARANTINE_EXPORT_COLUMNS),
    ],
)
def test_csv_header_exact_bom_and_no_formula_field(tmp_path: Path, attr: str, columns: list[str]) -> None:
    bundle = make_bundle()
    path = tmp_path / f"{attr}.csv"
    write_csv(getattr(bundle, attr), columns, path)
    rows = _read_csv(path)
    assert rows[0] == list(columns)
    assert len(rows) == len(getattr(bundle, attr)) + 1
    for row in rows[1:]:
        for field in row:
            assert not field.startswith(FORMULA_PREFIXES), field


def test_csv_keeps_payload_text_behind_a_quote_and_empty_stays_empty(tmp_path: Path) -> None:
    path = tmp_path / "demands.csv"
    write_csv(make_bundle().demands, s.DEMANDS_EXPORT_COLUMNS, path)
    rows = [dict(zip(s.DEMANDS_EXPORT_COLUMNS, r, strict=True)) for r in _read_csv(path)[1:]]
    first, second = rows[0], rows[1]
    assert first[s.TITLE] == "'" + HYPERLINK
    assert first[s.TEXT] == "'\t=1"
    assert first[s.REVIEW_REASON] == "'\r=2"
    assert second[s.TITLE] == "'+1" and second[s.ENTERPRISE] == "'@SUM(A1)"
    assert first[s.CREDIT_CODE] == ""  # "" stays "", no quote added
    assert second[s.FUNDING] == ""  # NaN -> empty
    assert first[s.DUPLICATE_OF] == ""


def test_csv_booleans_and_rounded_floats(tmp_path: Path) -> None:
    path = tmp_path / "demands.csv"
    write_csv(make_bundle().demands, s.DEMANDS_EXPORT_COLUMNS, path)
    rows = [dict(zip(s.DEMANDS_EXPORT_COLUMNS, r, strict=True)) for r in _read_csv(path)[1:]]
    assert [r[s.NEEDS_REVIEW] for r in rows[:2]] == ["true", "false"]
    assert rows[0][s.CONFIDENCE] == "0.8333"
    assert rows[1][s.DUPLICATE_SCORE] == "0.9123"
    assert rows[0][s.FUNDING] == "100.5"
    assert rows[0][s.SOURCE_ROW] == "2"


def test_csv_numbers_stay_numbers(tmp_path: Path) -> None:
    """A negative number is a number, not a formula: numeric columns are never prefixed."""
    df = pd.DataFrame({"a": [-5.0, 1.23456789], "b": [-3, 4], "c": ["-5", "x"]})
    path = tmp_path / "n.csv"
    write_csv(df, ["a", "b", "c"], path)
    assert _read_csv(path)[1:] == [["-5", "-3", "'-5"], ["1.2346", "4", "x"]]


def test_pd_na_and_numpy_values_in_object_columns(tmp_path: Path) -> None:
    bundle = make_bundle()
    demands = bundle.demands.astype({s.ENTERPRISE: object, s.FUNDING: object})
    demands.loc[0, s.ENTERPRISE] = pd.NA
    demands.loc[1, s.FUNDING] = np.float32(2.5)
    patched = ReportBundle(
        "call-1", demands, bundle.clusters, bundle.drafts, bundle.quarantine, bundle.files, bundle.manifest
    )
    paths = write_outputs(patched, tmp_path)
    rows = _read_csv(paths["demands.csv"])
    assert rows[1][s.DEMANDS_EXPORT_COLUMNS.index(s.ENTERPRISE)] == ""
    assert rows[2][s.DEMANDS_EXPORT_COLUMNS.index(s.FUNDING)] == "2.5"


def test_csv_missing_column_raises(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="missing columns"):
        write_csv(pd.DataFrame({"a": [1]}), ["a", "b"], tmp_path / "x.csv")
    assert not list(tmp_path.iterdir())


# --- workbook ---------------------------------------------------------------------------------------

DRAFT_HEADERS = [
    "条目编号",
    "产业",
    "产业链",
    "条目类型",
    "拟定标题",
    "关键词",
    "上层群组（关键词）",
    "需求条数",
    "重复条数",
    "企业数",
    "提出企业",
    "所在市州",
    "合作方式",
    "拟投入资金合计（万元）",
    "映射置信度",
    "待复核条数",
    "综合得分",
    "链内排名",
    "紧迫度",
    "解决难易度",
    "市场推广",
    "紧迫度依据",
    "解决难易度依据",
    "市场推广依据",
    "成员需求编号",
    "上层群组编号",
    "往期已提出条数",
    "审核状态",
    "审核记录",
    "审核意见",
    "合并至条目",
    "涉及需求编号",
    "新标题",
    "审核人",
    "备注",
]


@pytest.fixture
def workbook(tmp_path: Path) -> openpyxl.Workbook:
    bundle = make_bundle()
    bundle.demands.loc[2, s.TEXT] = "控制\x07字符=1"  # illegal in xlsx: must be dropped, not crash
    path = tmp_path / "draft_list.xlsx"
    write_draft_workbook(bundle, path)
    return openpyxl.load_workbook(path)


def test_workbook_sheets_in_industry_order(workbook: openpyxl.Workbook) -> None:
    assert workbook.sheetnames == ["说明", "电子信息", "装备制造", "六大产业之外", "需求明细", "隔离记录"]


def test_workbook_has_no_formula_and_no_formula_like_string(workbook: openpyxl.Workbook) -> None:
    strings = 0
    for ws in workbook.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    strings += 1
                    assert not cell.value.startswith(FORMULA_PREFIXES), (ws.title, cell.coordinate)
    assert strings > 50


def test_industry_sheet_rows_headers_and_review_columns(workbook: openpyxl.Workbook) -> None:
    ws = workbook["电子信息"]
    rows = list(ws.iter_rows(values_only=True))
    assert list(rows[0]) == DRAFT_HEADERS
    assert [r[0] for r in rows[1:]] == ["S8", "C1", "S9"]  # chain, then member_count descending
    c1 = rows[2]
    assert c1[3] == "聚类" and c1[4] == "'" + HYPERLINK
    assert c1[7] == 2 and isinstance(c1[7], int)
    assert isinstance(c1[DRAFT_HEADERS.index("映射置信度")], float)
    assert all(v is None for v in c1[DRAFT_HEADERS.index("审核状态") :])  # status and reviewer columns empty
    assert ws.freeze_panes == "A2"
    assert ws.column_dimensions["E"].width > ws.column_dimensions["G"].width


def test_empty_values_stay_empty_cells(workbook: openpyxl.Workbook) -> None:
    rows = list(workbook["装备制造"].iter_rows(values_only=True))
    assert rows[1][DRAFT_HEADERS.index("所在市州")] is None  # regions ""
    detail = list(workbook["需求明细"].iter_rows(values_only=True))
    header = list(detail[0])
    funding = header.index("拟投入资金（万元）")
    assert detail[1][funding] == 100.5 and detail[2][funding] is None
    assert detail[1][header.index("需复核")] == "是"
    assert detail[3][header.index("需求描述")] == "控制字符=1"
    assert "-" not in [v for r in detail for v in r] and "N/A" not in [v for r in detail for v in r]


def test_review_drop_down_on_every_industry_sheet(workbook: openpyxl.Workbook) -> None:
    for name in ["电子信息", "装备制造", "六大产业之外"]:
        ws = workbook[name]
        validations = ws.data_validations.dataValidation
        assert len(validations) == 1
        dv = validations[0]
        assert dv.type == "list"
        assert all(choice in dv.formula1 for choice in ["采纳", "不采纳", "合并", "拆分", "改标题", "撤回", "待定"])
        col = openpyxl.utils.get_column_letter(DRAFT_HEADERS.index("审核意见") + 1)
        assert ws[f"{col}1"].value == "审核意见"
        assert all(f"{col}{r}" in dv.sqref for r in range(2, ws.max_row + 1))
        assert f"{col}1" not in dv.sqref


def test_readme_sheet_counts_are_values(workbook: openpyxl.Workbook) -> None:
    values = {r[0]: r[1] for r in workbook["说明"].iter_rows(values_only=True) if r[0] is not None}
    assert values["接收需求"] == 4
    assert values["重复组数"] == 1
    assert values["待复核需求"] == 2
    assert values["电子信息"] == 3  # entries on that sheet
    assert any("审核意见" in str(k) for k in values)


def test_detail_and_quarantine_sheets(workbook: openpyxl.Workbook) -> None:
    detail = list(workbook["需求明细"].iter_rows(values_only=True))
    assert detail[0][:4] == ("需求编号(系统)", "原始编号", "来源文件", "行号")
    assert len(detail) == 5
    quarantine = list(workbook["隔离记录"].iter_rows(values_only=True))
    assert quarantine[1][3] == "'-缺少企业名称"


# --- HTML -------------------------------------------------------------------------------------------


def _script_blocks(html: str) -> list[tuple[str, str]]:
    return re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.DOTALL)


def test_html_escapes_user_text_and_carries_csp(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(make_bundle(), path)
    html = path.read_text(encoding="utf-8")
    scripts = _script_blocks(html)
    assert [attrs for attrs, _ in scripts] == [' type="application/json" id="filter-data"', ""]
    assert html.lower().count("<script") == 2  # ours only: the data block and the filter
    assert "<img" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert csp is not None
    directives = dict(d.strip().split(" ", 1) for d in csp.group(1).split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["style-src"] == "'unsafe-inline'"
    assert directives["script-src"] == script_hash(scripts[1][1])  # exactly the filter script, by its hash
    assert directives["base-uri"] == directives["form-action"] == "'none'"
    assert '<html lang="zh-CN">' in html
    assert "<title>技术需求汇总报告 — call-1</title>" in html
    assert not re.search(r"<(link|iframe|object|embed|img)\b", html)
    assert not re.search(r"(src|href)=\"(https?:)?//", html) and "@import" not in html and "url(" not in html
    assert "http://evil.example" in html and 'href="http' not in html


def test_embedded_json_escapes_angle_brackets_and_ampersands(tmp_path: Path) -> None:
    bundle = make_bundle()
    bundle.drafts.loc[0, "label"] = "A&B </script><script>alert(2)</script> \u2028"
    path = tmp_path / "report.html"
    write_html(bundle, path)
    data = _script_blocks(path.read_text(encoding="utf-8"))[0][1]
    assert not set("<>&") & set(data)
    assert "\\u003c/script\\u003e\\u003cscript\\u003ealert(2)" in data and "a\\u0026b" in data
    index = json.loads(data)
    assert len(index) == len(bundle.drafts) and [item["i"] for item in index] == list(range(len(index)))
    assert any("</script><script>alert(2)</script>" in item["text"] for item in index)
    assert json_for_html({"k": "<&>"}) == '{"k":"\\u003c\\u0026\\u003e"}'


def test_filter_script_is_static_and_hash_stable(tmp_path: Path) -> None:
    write_html(make_bundle(), tmp_path / "a.html")
    write_html(make_bundle(extra_group_members=3), tmp_path / "b.html")
    scripts = [_script_blocks((tmp_path / n).read_text(encoding="utf-8"))[1][1] for n in ("a.html", "b.html")]
    assert scripts[0] == scripts[1] and 'getElementById("filter-data")' in scripts[0]


def test_html_sections(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(make_bundle(), path)
    html = path.read_text(encoding="utf-8")
    for heading in ["概况", "文件", "产业与产业链分布", "重复需求", "待复核", "聚类", "隔离记录"]:
        assert f">{heading}</h2>" in html
    assert "坏文件.xlsx" in html and "关键词：发动机" in html and "航空航天" in html
    assert "<details>" in html and "近似重复" in html


def test_html_caps_long_member_lists_but_not_counts(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(make_bundle(extra_group_members=60), path)
    html = path.read_text(encoding="utf-8")
    assert "62 条</span>" in html
    assert "另有 12 条未列出" in html
    assert "成员47" in html and "成员48" not in html  # D1, D2 and 48 more


def test_html_with_empty_frames(tmp_path: Path) -> None:
    bundle = make_bundle()
    empty = ReportBundle(
        "空批次",
        bundle.demands.iloc[0:0],
        bundle.clusters.iloc[0:0],
        bundle.drafts.iloc[0:0],
        bundle.quarantine.iloc[0:0],
        bundle.files.iloc[0:0],
        {},
    )
    paths = write_outputs(empty, tmp_path / "out")
    assert "没有接收的需求" in paths["report.html"].read_text(encoding="utf-8")
    assert openpyxl.load_workbook(paths["draft_list.xlsx"]).sheetnames == ["说明", "需求明细", "隔离记录"]


# --- manifest and write_outputs ---------------------------------------------------------------------


def test_manifest_is_sorted_indented_utf8(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    write_manifest(make_bundle().manifest, path)
    text = path.read_text(encoding="utf-8")
    assert '"名称": "测试"' in text
    assert text.startswith('{\n  "call_id"')
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data["counts"] == {"accepted": 4} and data["score"] is None


def test_write_outputs_creates_dir_and_every_file(tmp_path: Path) -> None:
    out_dir = tmp_path / "a" / "b"
    paths = write_outputs(make_bundle(), out_dir)
    assert (
        set(paths)
        == set(OUTPUT_FILES)
        == {
            "demands.csv",
            "clusters.csv",
            "quarantine.csv",
            "draft_list.xlsx",
            "demand_list.xlsx",
            "demand_list.docx",
            "report.html",
            "manifest.json",
        }
    )
    assert all(p.parent == out_dir and p.stat().st_size > 0 for p in paths.values())
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(OUTPUT_FILES)  # no temporary file left


def _grouped_bundle() -> ReportBundle:
    """make_bundle() with three clusters in 集成电路: C1 and C5 in upper group K1, C7 alone in K7."""
    bundle = make_bundle()
    demands = bundle.demands.copy()
    demands[s.CLUSTER_GROUP] = ["K1", "K1", "", ""]
    more = [_demand(f"D5{i}", **{s.CLUSTER_ID: "C5", s.CLUSTER_GROUP: "K1"}) for i in range(3)]
    more += [_demand(f"D7{i}", **{s.CLUSTER_ID: "C7", s.CLUSTER_GROUP: "K7"}) for i in range(4)]
    demands = pd.concat([demands, pd.DataFrame(more)], ignore_index=True)
    extra = pd.DataFrame(
        [
            bundle.clusters.iloc[0].to_dict()
            | {s.CLUSTER_ID: c, "label": label, "size": n, "member_ids": ids, s.CLUSTER_GROUP: g}
            for c, label, n, ids, g in [("C5", "晶圆、键合", 3, "D50;D51;D52", "K1"), ("C7", "光刻胶", 4, "D70", "K7")]
        ]
    )
    extra[s.CLUSTER_GROUP_LABEL] = ["芯片、封装", "光刻胶、材料"]
    drafts = pd.DataFrame(
        [
            *bundle.drafts.to_dict("records"),
            _draft("C5", "电子信息", "EI-01", "集成电路", 3, entry_kind="cluster", label="晶圆、键合"),
            _draft("C7", "电子信息", "EI-01", "集成电路", 4, entry_kind="cluster", label="光刻胶"),
        ]
    )
    drafts[s.CLUSTER_GROUP] = drafts[s.ENTRY_ID].map({"C1": "K1", "C5": "K1", "C7": "K7"}).fillna("")
    drafts[s.CLUSTER_GROUP_LABEL] = drafts[s.CLUSTER_GROUP].map({"K1": "芯片、封装", "K7": "光刻胶、材料"}).fillna("")
    clusters = pd.concat([bundle.clusters, extra], ignore_index=True)
    return ReportBundle("call-1", demands, clusters, drafts, bundle.quarantine, bundle.files, bundle.manifest)


def test_html_shows_upper_groups_of_clusters_within_a_chain(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(_grouped_bundle(), path)
    html = path.read_text(encoding="utf-8")
    html = html[html.index('id="clusters"') :]
    assert html.count("上层群组：") == 1  # K7 holds one cluster only: no heading of its own
    heading = html.index("上层群组：芯片、封装")
    assert "2 类 · 5 条" in html[heading : heading + 200]  # C1 and C5, five demands
    lone = html.index("未归入上层群组的聚类")
    assert heading < html.index("晶圆、键合") < lone < html.index("光刻胶")


def test_workbook_keeps_the_entries_of_one_upper_group_together(tmp_path: Path) -> None:
    path = tmp_path / "draft_list.xlsx"
    write_draft_workbook(_grouped_bundle(), path)
    rows = list(openpyxl.load_workbook(path)["电子信息"].iter_rows(values_only=True))
    # by count alone C7 (4) would sit between C5 (3) and C1 (2); the group K1 (5 demands) keeps them adjacent
    assert [r[0] for r in rows[1:]] == ["C5", "C1", "S8", "C7", "S9"]
    group_label = DRAFT_HEADERS.index("上层群组（关键词）")
    assert [r[group_label] for r in rows[1:4]] == ["芯片、封装", "芯片、封装", None]
    assert rows[2][DRAFT_HEADERS.index("上层群组编号")] == "K1"
    detail = list(openpyxl.load_workbook(path)["需求明细"].iter_rows(values_only=True))
    assert detail[0][-1] == "上层群组" and detail[1][-1] == "K1"


# --- the staff's working view: charts, ranked entries with evidence, members, filter -------------------------

CMD = "=cmd|' /C calc'!A0"
D8_TEXT = (
    "我公司成立于2001年，是国家高新技术企业。需要开发12英寸晶圆减薄设备。厚度均匀性≤1μm；目前依赖进口，急需国产替代。"
)


def scored_bundle() -> ReportBundle:
    """make_bundle() with scored, ranked entries: in 集成电路 S8 (rank 1) and C1 (rank 3) share the upper group K1,
    S11 (rank 2, a `=cmd` payload) has none; S9 (新型显示) was rejected by staff; members with texts and numbers."""
    bundle = make_bundle()
    more = [
        _demand("D8", **{s.TITLE: "晶圆减薄设备", s.TEXT: D8_TEXT, s.EXTERNAL_ID: "XQ-008", s.ENTERPRISE: "企业戊",
                         s.REGION: "绵阳市", s.RECURRING: True, s.FIRST_CALL: "2025-秋"}),
        _demand("D9", **{s.TITLE: "显示驱动芯片", s.TEXT: "需要显示驱动芯片。", s.REGION: "德阳市"}),
        _demand("D11", **{s.TITLE: CMD, s.TEXT: CMD + "。第二句。", s.EXTERNAL_ID: "=XQ-11", s.ENTERPRISE: IMG,
                          s.REGION: "", s.NEEDS_REVIEW: True, s.REVIEW_REASON: "置信度低"}),
    ]  # fmt: skip
    demands = pd.concat([bundle.demands, pd.DataFrame(more)], ignore_index=True)
    scores = {  # entry: (total, rank, urgency, difficulty, market, status, group, members)
        "C1": (50.0, 3, 40.0, 50.0, 60.0, "", "K1", "D1;D2"),
        "S3": (70.0, 1, 70.0, 70.0, 70.0, "已采纳", "", "D3"),
        "S4": (10.0, 1, 10.0, 10.0, 10.0, "", "", "D4"),
        "S9": (90.0, 1, 90.0, 90.0, 90.0, "不采纳", "", "D9"),
        "S8": (80.5, 1, 72.0, 55.0, 66.0, "", "K1", "D8"),
        "S11": (60.0, 2, 60.0, 60.0, 60.0, "", "", "D11"),
    }
    drafts = pd.concat(
        [bundle.drafts, pd.DataFrame([_draft("S11", "电子信息", "EI-01", "集成电路", 1, draft_title=CMD)])],
        ignore_index=True,
    )
    rows = [scores[e] for e in drafts[s.ENTRY_ID]]
    for column, values in {
        "score_total": [r[0] for r in rows],
        "score_rank": [r[1] for r in rows],
        "score_urgency": [r[2] for r in rows],
        "score_difficulty": [r[3] for r in rows],
        "score_market": [r[4] for r in rows],
        "entry_status": [r[5] for r in rows],
        s.CLUSTER_GROUP: [r[6] for r in rows],
        s.CLUSTER_GROUP_LABEL: ["芯片、封装" if r[6] else "" for r in rows],
        "member_ids": [r[7] for r in rows],
    }.items():
        drafts[column] = values
    for dim, label in (("urgency", "紧迫度"), ("difficulty", "解决难易度"), ("market", "市场推广")):
        drafts[f"score_{dim}_evidence"] = [
            f"{label} {v:g}：依据{e} {IMG}" for e, v in zip(drafts[s.ENTRY_ID], drafts[f"score_{dim}"], strict=True)
        ]
    drafts["score_total_evidence"] = [f"总分 {v:g}" for v in drafts["score_total"]]
    drafts["staff_note"] = ["", "张三 2026-11-01 采纳", "", "李四 2026-11-01 不采纳：重复", "", ""]
    drafts["recurring_members"] = [0, 0, 0, 0, 1, 0]
    return ReportBundle("call-1", demands, bundle.clusters, drafts, bundle.quarantine, bundle.files, bundle.manifest)


def test_html_overview_charts_count_duplicates_once(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(scored_bundle(), path)
    html = path.read_text(encoding="utf-8")
    for chart in ("chart-industry", "chart-region", "chart-chain", "chart-review"):
        assert f'id="{chart}"' in html
    industry = html[html.index('id="chart-industry"') : html.index('id="chart-region"')]
    assert ">电子信息</span>" in industry and "5（4）" in industry  # D1, D2 (duplicate of D1), D8, D9, D11
    assert industry.index("电子信息") < industry.index("装备制造") < industry.index("六大产业之外")
    region = html[html.index('id="chart-region"') : html.index('id="chart-chain"')]
    assert "绵阳市" in region and "（未填写）" in region
    assert "3（43%）" not in html and "待复核需求" in html and "3（42.9%）" in html  # D1, D3, D11 of 7


def test_html_entries_ranked_with_evidence_and_members_on_demand(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(scored_bundle(), path)
    html = path.read_text(encoding="utf-8")
    section = html[html.index('id="drafts"') : html.index('id="files"')]
    chain = section[section.index("<h3>电子信息 · 集成电路") : section.index("<h3>电子信息 · 新型显示")]
    assert chain.index("大条目") < chain.index("=cmd") < chain.index("=HYPERLINK")  # by score_rank
    assert "80.5" in chain and "紧迫度 72：依据S8 &lt;img src=x onerror=alert(1)&gt;" in chain
    assert "需要开发12英寸晶圆减薄设备。【XQ-008】厚度均匀性≤1μm；【XQ-008】" in chain  # key sentences, sourced
    assert "公司成立于" not in chain.split("<details>")[0]  # the self-description is not a key sentence
    assert "<details>" in chain and "往期已提出（2025-秋）" in chain and "XQ-008<br>D8" in chain
    assert "不采纳" in section and "已采纳" in section and "张三 2026-11-01 采纳" in section
    assert 'id="filter-text"' in section and 'type="search"' in section
    assert '<option value="电子信息">电子信息</option>' in section
    assert "共 6 个条目" in section


def test_html_print_styles(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_html(scored_bundle(), path)
    html = path.read_text(encoding="utf-8")
    assert "@media print" in html and "print-color-adjust: exact" in html
    assert '<div id="filters" hidden>' in html  # shown by the script only: nothing to click on paper or without it
