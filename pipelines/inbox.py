"""Which calls are due to run, from the inbox folders and the library's runs (pure, apart from `list_inbox`).

Folder layout (`ningliang serve --inbox DIR --call-prefix P`):

    DIR/<folder>/*.xlsx | *.xlsm | *.csv | *.jsonl     one folder per call; its call id is P + <folder>

Hidden files and folders, Office lock files (`~$x.xlsx`, `.~lock.x#`) and partial downloads (`.part`, `.tmp`,
`.crdownload`) are ignored; sub-folders of a call folder are not read. A call is due when

- its folder holds at least one submission file, and
- nothing in the folder changed between two listings taken `settle_seconds` apart, and its newest file is at least
  `settle_seconds` old (files still being copied are left for the next poll), and
- (only_new) a file changed after the call's last attempted run: the start of its last succeeded or failed
  consolidation run. A call never run is due; runs a crash interrupted do not count, so the call is retried; a failed
  run counts, so a broken file is not retried on every poll (new files or the scheduled run retry it).

A file's time is the later of its modification and status-change times: a copy that keeps the original mtime
(`cp -p`, unzip) still counts as new when it lands in the folder.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

SUBMISSION_SUFFIXES = (".xlsx", ".xlsm", ".csv", ".jsonl")
_PARTIAL_SUFFIXES = (".part", ".tmp", ".crdownload", ".partial", ".download")
ATTEMPTED = ("succeeded", "failed")


@dataclass(frozen=True)
class InboxFile:
    """One submission file: name inside its call folder, size in bytes, time as POSIX seconds (see module doc)."""

    name: str
    size: int
    changed: float


Listing = Mapping[str, tuple[InboxFile, ...]]  # folder name -> its submission files, sorted by name


@dataclass(frozen=True)
class CallPlan:
    """What the poller decided for one call folder: `due` runs now; `reason` says why (Chinese, for the logs)."""

    call_id: str
    folder: str
    files: tuple[str, ...]
    due: bool
    reason: str


def is_submission(name: str) -> bool:
    """A file the pipeline should read: a supported suffix, not hidden, not a lock file or partial download."""
    lower = name.lower()
    if lower.startswith((".", "~$")) or lower.endswith(_PARTIAL_SUFFIXES):
        return False
    return lower.endswith(SUBMISSION_SUFFIXES)


def list_inbox(root: Path) -> dict[str, tuple[InboxFile, ...]]:
    """The inbox's call folders and their submission files (a missing inbox lists nothing; a file that vanishes
    while listing is left out)."""
    listing: dict[str, tuple[InboxFile, ...]] = {}
    if not root.is_dir():
        return listing
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = []
        for path in sorted(folder.iterdir()):
            if not is_submission(path.name):
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            if path.is_file():
                files.append(InboxFile(path.name, st.st_size, max(st.st_mtime, st.st_ctime)))
        listing[folder.name] = tuple(files)
    return listing


def last_attempts(runs: pd.DataFrame) -> dict[str, float]:
    """call_id -> start (POSIX seconds) of its latest succeeded or failed consolidation run, from `Library.runs()`
    (columns call_id, status, started_at, manifest_json). Re-mapping runs are not consolidation runs; a run's
    manifest `started_at` (the flow's start, before its files were read) is preferred to the record's."""
    latest: dict[str, float] = {}
    if runs.empty:
        return latest
    for row in runs.itertuples(index=False):
        if row.status not in ATTEMPTED:
            continue
        manifest = _manifest(getattr(row, "manifest_json", None))
        if manifest.get("kind") == "remap":
            continue
        started = _seconds(manifest.get("started_at")) or _seconds(row.started_at)
        if started is not None:
            latest[str(row.call_id)] = max(started, latest.get(str(row.call_id), started))
    return latest


def plan_calls(
    first: Listing,
    second: Listing,
    attempts: Mapping[str, float],
    call_prefix: str,
    now: float,
    settle_seconds: float,
    only_new: bool = True,
) -> list[CallPlan]:
    """One plan per call folder of the `second` listing (taken `settle_seconds` after `first`), in folder order."""
    plans = []
    for folder, files in sorted(second.items()):
        call_id = f"{call_prefix}{folder}"
        due, reason = _decide(first.get(folder), files, attempts.get(call_id), now, settle_seconds, only_new)
        plans.append(CallPlan(call_id, folder, tuple(f.name for f in files), due, reason))
    return plans


def _decide(
    before: tuple[InboxFile, ...] | None,
    files: tuple[InboxFile, ...],
    attempted: float | None,
    now: float,
    settle_seconds: float,
    only_new: bool,
) -> tuple[bool, str]:
    if not files:
        return False, "文件夹中没有需求文件"
    if before != files or now - max(f.changed for f in files) < settle_seconds:
        return False, "文件仍在写入，等待下一次检查"
    if not only_new:
        return True, "定时运行"
    if attempted is None:
        return True, f"新批次（{len(files)} 个文件）"
    fresh = [f.name for f in files if f.changed > attempted]
    return (True, f"上次运行后有新文件：{'、'.join(fresh)}") if fresh else (False, "上次运行后没有新文件")


def _manifest(text: object) -> dict[str, object]:
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _seconds(stamp: object) -> float | None:
    """An ISO-8601 time (naive means UTC) as POSIX seconds; None when absent or unreadable."""
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
