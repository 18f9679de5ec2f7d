"""report.html in a real browser: Debian's headless Chromium loads the page built from hostile input, runs the
filter script the CSP allows by hash, and no payload becomes markup. Skips (with the reason) without Chromium:
nothing is downloaded or installed here (`make test` installs Debian's `chromium` when it runs as root)."""

import re
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import lxml.html
import pytest

from pipelines.report import write_html
from tests.test_report import SCRIPT, scored_bundle

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=5000",  # lets the page's script run before the DOM is dumped
)
TIMEOUT = 120  # seconds for one browser run
CANDIDATES = ("/usr/bin/chromium",)  # Debian's package; PATH is searched first


def chromium() -> str:
    """The Chromium binary, or skip the test with the reason printed."""
    found = shutil.which("chromium") or next((p for p in CANDIDATES if Path(p).exists()), None)
    if found is None:
        reason = "Chromium 不可用（/usr/bin/chromium 不存在，测试不安装任何浏览器）：跳过浏览器测试"
        print(reason)
        pytest.skip(reason)
    return found


def dump_dom(page: Path, tmp: Path, query: dict[str, str] | None = None) -> lxml.html.HtmlElement:
    """The DOM after the page's scripts ran, as Chromium serialises it."""
    url = page.resolve().as_uri() + ("?" + urllib.parse.urlencode(query) if query else "")
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    done = subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    text = done.stdout.decode("utf-8")
    assert "<html" in text, text[:500]
    return lxml.html.document_fromstring(text)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chromium()
    path = tmp_path_factory.mktemp("report") / "report.html"
    write_html(scored_bundle(), path)
    return path


def _visible_entries(dom: lxml.html.HtmlElement) -> list[str]:
    return [t.get("data-idx") for t in dom.xpath('//tbody[@class="entry"]') if t.get("hidden") is None]


def test_page_loads_with_key_elements_and_the_filter_script_ran(page: Path, tmp_path: Path) -> None:
    dom = dump_dom(page, tmp_path)
    for selector in (
        '//div[@id="chart-industry"]', '//div[@id="chart-region"]', '//div[@id="chart-chain"]',
        '//div[@id="chart-review"]', '//table[@class="entries"]', '//input[@id="filter-text"][@type="search"]',
        '//select[@id="filter-industry"]', '//select[@id="filter-chain"]', '//input[@id="filter-review"]',
    ):  # fmt: skip
        assert dom.xpath(selector), selector
    assert len(dom.xpath('//div[@id="chart-industry"]/div[@class="row"]')) == 3
    assert len(dom.xpath('//table[@class="entries"]')) == 4
    panel = dom.get_element_by_id("filters")
    assert panel.get("data-ready") == "true" and panel.get("hidden") is None  # only the script sets these
    assert dom.get_element_by_id("filter-count").text_content() == "显示 6 / 6 个条目"
    assert len(_visible_entries(dom)) == 6 and dom.xpath('//tbody[@class="entry"]//details')


def test_no_payload_became_markup(page: Path, tmp_path: Path) -> None:
    dom = dump_dom(page, tmp_path)
    assert not dom.xpath("//img") and not dom.xpath("//*[@onerror or @onload or @onclick]")
    scripts = dom.xpath("//script")
    assert [(s.get("type"), s.get("id")) for s in scripts] == [("application/json", "filter-data"), (None, None)]
    body_text = dom.body.text_content()
    assert SCRIPT in body_text and "<img src=x onerror=alert(1)>" in body_text  # shown as text
    assert dom.find(".//title").text_content() == "技术需求汇总报告 — call-1"  # no script rewrote the page


def test_filter_by_text_industry_chain_and_review(page: Path, tmp_path: Path) -> None:
    dom = dump_dom(page, tmp_path, {"q": "xq-008"})  # a source demand's number finds its entry
    assert dom.get_element_by_id("filter-count").text_content() == "显示 1 / 6 个条目"
    shown = dom.xpath('//tbody[@class="entry"][not(@hidden)]//strong')
    assert [s.text_content() for s in shown] == ["大条目"]
    assert [sec.get("hidden") is None for sec in dom.xpath('//section[@class="chain"]')] == [True, False, False, False]
    dom = dump_dom(page, tmp_path, {"industry": "电子信息", "review": "1"})
    assert dom.get_element_by_id("filter-count").text_content() == "显示 2 / 6 个条目"  # C1 (D1) and S11 (D11)
    dom = dump_dom(page, tmp_path, {"chain": "1", "q": "没有这个词"})
    assert dom.get_element_by_id("filter-count").text_content() == "显示 0 / 6 个条目"
    assert dom.get_element_by_id("filter-none").get("hidden") is None


def test_csp_blocks_any_other_inline_script(page: Path, tmp_path: Path) -> None:
    """The same page with one more inline script: the browser must refuse to run it (its hash is not allowed)."""
    html = page.read_text(encoding="utf-8")
    tampered = tmp_path / "tampered.html"
    tampered.write_text(
        html.replace("</main>", '</main><script>document.title = "已被篡改";</script>', 1), encoding="utf-8"
    )
    dom = dump_dom(tampered, tmp_path)
    assert dom.find(".//title").text_content() == "技术需求汇总报告 — call-1"
    assert dom.get_element_by_id("filters").get("data-ready") == "true"  # the allowed script still ran


def print_to_pdf(page: Path, tmp: Path) -> bytes:
    pdf = tmp / (page.stem + ".pdf")
    command = [chromium(), *FLAGS, f"--user-data-dir={tmp / 'profile-pdf'}", "--no-pdf-header-footer",
               f"--print-to-pdf={pdf}", page.resolve().as_uri()]  # fmt: skip
    done = subprocess.run(command, capture_output=True, timeout=TIMEOUT, check=False)
    assert done.returncode == 0 and pdf.exists(), done.stderr.decode(errors="replace")[-2000:]
    return pdf.read_bytes()


def test_page_prints_with_every_entrys_evidence(page: Path, tmp_path: Path) -> None:
    """Print-friendly: the page prints (A4 landscape, no filter panel or navigation), and the script opens every
    entry's evidence for printing: more pages than the same page printed without its script."""
    printed = print_to_pdf(page, tmp_path)
    assert printed.startswith(b"%PDF")
    bare = tmp_path / "bare.html"
    html = page.read_text(encoding="utf-8")
    bare.write_text(re.sub(r"<script>.*?</script>", "", html, flags=re.DOTALL), encoding="utf-8")
    pages = [len(re.findall(rb"/Type\s*/Page\b", pdf)) for pdf in (printed, print_to_pdf(bare, tmp_path))]
    assert pages[0] > pages[1] > 0, pages


def test_without_chromium_the_tests_skip_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(sys.modules[__name__], "CANDIDATES", ("/nonexistent/chromium",))
    with pytest.raises(pytest.skip.Exception, match="Chromium 不可用"):
        chromium()
    assert "跳过浏览器测试" in capsys.readouterr().out
