"""Screenshot of the staff's working view (report.html) in Debian's headless Chromium, for the docs.

By default the bundled sample call (data/samples/sample-call.xlsx) is run through the shipped flow into a temporary
folder and library (with --share, so the page holds no personal data) and its report.html is shot at 1280x2000,
the first entry's evidence and members expanded; --report takes an existing report.html instead. Chromium runs
offline with a throw-away profile; the page loads nothing external.

Usage: python benchmarks/screenshot_report.py [--report PATH] [--out docs/report-screenshot.png] [--size 1280,2000]
       (or `make screenshot`)
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_ENABLED", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "sample-call.xlsx"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
    "--virtual-time-budget=5000",
)


def sample_report(work: Path) -> Path:
    """Run the sample call through the shipped flow; the path of its report.html."""
    sys.path.insert(0, str(ROOT))
    from pipelines.flows import consolidate_call
    from pipelines.settings import PipelineConfig

    out = work / "out"
    consolidate_call([SAMPLE], "sample-2026", out, f"sqlite:///{work / 'library.sqlite'}", PipelineConfig(), echo=True,
                     share=True)  # fmt: skip
    return out / "report.html"


def with_first_entry_open(report: Path, work: Path) -> Path:
    """A copy of the page with the first draft entry's evidence and members expanded (the script is unchanged)."""
    html = report.read_text(encoding="utf-8")
    start = html.find('<tbody class="entry"')
    if start >= 0:
        html = html[:start] + html[start:].replace("<details>", "<details open>", 1)
    copy = work / "report-open.html"
    copy.write_text(html, encoding="utf-8")
    return copy


def screenshot(report: Path, out: Path, size: str, work: Path) -> None:
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(browser).exists():
        sys.exit("没有找到 chromium（Debian：apt-get install chromium）")
    out.parent.mkdir(parents=True, exist_ok=True)
    command = [browser, *FLAGS, f"--user-data-dir={work / 'profile'}", f"--window-size={size}",
               f"--screenshot={out.resolve()}", report.resolve().as_uri()]  # fmt: skip
    done = subprocess.run(command, capture_output=True, timeout=180, check=False)
    if done.returncode != 0 or not out.exists():
        sys.exit(f"截图失败：{done.stderr.decode(errors='replace')[-1000:]}")
    print(f"截图：{out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--report", type=Path, help="an existing report.html (default: run the sample call)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report-screenshot.png")
    parser.add_argument("--size", default="1280,2000", help="window size, width,height")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ningliang-shot-") as tmp:
        work = Path(tmp)
        report = args.report or sample_report(work)
        screenshot(with_first_entry_open(report, work), args.out, args.size, work)


if __name__ == "__main__":
    main()
