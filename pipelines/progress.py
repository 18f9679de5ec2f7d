"""What the person at the terminal sees while a run works: a line per stage with its throughput, and progress within
the long stages (no Prefect here; pipelines/flows.py drives a `StageDisplay` through its `_Stages`).

A stage's code reports its work through `Progress`: the caller that knows how much there is announces it (`expect`),
the worker reports what it finished (`advance`): `embed.demand_vectors` announces the titles and bodies it encodes,
and the encoders advance after each batch. Reporting only observes; what is computed is the same without it.

Three displays, chosen by `make_display`:

- `BarDisplay` (stderr is a terminal): a live line per stage (rich): a spinner, then a bar with items done / expected,
  items per second, elapsed and remaining time; replaced by the stage's finished line when it ends;
- `LineDisplay` (a log file, a pipe): plain lines without control characters, a progress line at most every
  `interval` seconds (never for a stage shorter than that);
- `StageDisplay` itself (`--quiet`, scheduled runs): nothing.

A display sent to another process (a task runner's worker) arrives there as a silent one: the terminal is here.
"""

import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol, TextIO


class Progress(Protocol):
    """Where a stage reports its work: `expect(n, unit)` announces n more items (unit: what they are, e.g. 文本);
    `advance(n)` says n of them are done."""

    def expect(self, n: int, unit: str = "条") -> None: ...

    def advance(self, n: int) -> None: ...


def finished_text(seconds: float, rows: int | None, loaded: bool) -> str:
    """The end of a stage's line: loaded from the resume folder, or computed with its rows (demands, or rows read)
    per second."""
    took = f"{seconds:.1f} 秒" if seconds >= 1 else f"{seconds:.2f} 秒"
    if loaded:
        return f"已从中断处恢复（载入上次运行的结果，{took}）"
    if rows is None:
        return f"完成（{took}）"
    rate = f"，{_number(rows / seconds)} 条/秒" if seconds > 0 else ""
    return f"完成（{rows:,} 条，{took}{rate}）"


def _number(x: float) -> str:
    return f"{x:,.0f}" if x >= 10 else f"{x:.1f}"


class StageDisplay:
    """Shows nothing: the interface every display implements (also a `Progress`)."""

    def start(self, number: int, of: int, name: str) -> None:
        """Stage `number` of `of`, called `name`, begins."""

    def expect(self, n: int, unit: str = "条") -> None:
        """The running stage announces n more items."""

    def advance(self, n: int) -> None:
        """The running stage finished n of its items."""

    def finish(self, seconds: float, rows: int | None, loaded: bool) -> None:
        """The running stage ended after `seconds` over `rows` rows (None: not counted); `loaded`: it came from the
        resume folder rather than being computed."""

    def abort(self) -> None:
        """The running stage failed: leave the terminal clean for the error message."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (StageDisplay, ())  # in another process: silent


class _Counts:
    """The running stage's label, items expected and done, unit and start time."""

    def __init__(self, label: str, name: str, began: float) -> None:
        self.label, self.name, self.began = label, name, began
        self.total = self.done = 0
        self.unit = "条"

    def text(self, now: float) -> str:
        """e.g. "1,200/3,000 文本（40%，512 文本/秒）"."""
        share = f"{100 * self.done / self.total:.0f}%，" if self.total else ""
        rate = self.done / (now - self.began) if now > self.began else 0.0
        return f"{self.done:,}/{self.total:,} {self.unit}（{share}{_number(rate)} {self.unit}/秒）"


class LineDisplay(StageDisplay):
    """Plain lines: "[ 4/10] 句向量 … 完成（…）", with progress lines in between for stages longer than `interval`."""

    def __init__(self, stream: TextIO, interval: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.interval = interval
        self.clock = clock
        self._lock = threading.Lock()
        self._stage: _Counts | None = None
        self._open = False  # the stage's line awaits its end
        self._last = 0.0

    def start(self, number: int, of: int, name: str) -> None:
        with self._lock:
            self._stage = _Counts(f"[{number:>2}/{of}] {name}", name, self.clock())
            self._last = self._stage.began
            self._write(f"{self._stage.label} …")
            self._open = True

    def expect(self, n: int, unit: str = "条") -> None:
        with self._lock:
            if self._stage is not None:
                self._stage.total += n
                self._stage.unit = unit

    def advance(self, n: int) -> None:
        with self._lock:
            stage = self._stage
            if stage is None:
                return
            stage.done += n
            now = self.clock()
            if now - self._last >= self.interval and stage.done < stage.total:
                self._last = now
                self._write(("\n" if self._open else "") + f"        {stage.name}：{stage.text(now)}\n")
                self._open = False

    def finish(self, seconds: float, rows: int | None, loaded: bool) -> None:
        with self._lock:
            if self._stage is not None:
                head = " " if self._open else f"{self._stage.label} "
                self._write(f"{head}{finished_text(seconds, rows, loaded)}\n")
            self._stage, self._open = None, False

    def abort(self) -> None:
        with self._lock:
            if self._open:
                self._write("\n")
            self._stage, self._open = None, False

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


class BarDisplay(StageDisplay):
    """A live rich line per stage on a terminal, replaced by the stage's finished line."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console

        self.console = Console(file=stream, highlight=False)
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None
        self._stage: _Counts | None = None

    def start(self, number: int, of: int, name: str) -> None:
        from rich.progress import BarColumn, SpinnerColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
        from rich.progress import Progress as Bar

        with self._lock:
            self._stage = _Counts(f"[{number:>2}/{of}] {name}", name, time.monotonic())
            self._bar = Bar(
                SpinnerColumn(),
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                TextColumn("{task.fields[counts]}", markup=False),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._task = self._bar.add_task(self._stage.label, total=None, counts="")
            self._bar.start()

    def expect(self, n: int, unit: str = "条") -> None:
        with self._lock:
            if self._stage is not None:
                self._stage.total += n
                self._stage.unit = unit
                self._update()

    def advance(self, n: int) -> None:
        with self._lock:
            if self._stage is not None:
                self._stage.done += n
                self._update()

    def finish(self, seconds: float, rows: int | None, loaded: bool) -> None:
        with self._lock:
            label = self._stage.label if self._stage is not None else ""
            self._stop()
            self.console.print(f"{label} {finished_text(seconds, rows, loaded)}", markup=False, highlight=False)

    def abort(self) -> None:
        with self._lock:
            self._stop()

    def _update(self) -> None:
        stage = self._stage
        if self._bar is not None and stage is not None and stage.total:
            counts = stage.text(time.monotonic())
            self._bar.update(self._task, total=stage.total, completed=stage.done, counts=counts)

    def _stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
        self._bar, self._task, self._stage = None, None, None


def make_display(echo: bool, stream: TextIO | None = None) -> StageDisplay:
    """Bars on a terminal, plain lines elsewhere, nothing when `echo` is off; `stream` defaults to the current
    sys.stderr."""
    if not echo:
        return StageDisplay()
    stream = stream if stream is not None else sys.stderr
    return BarDisplay(stream) if _is_terminal(stream) else LineDisplay(stream)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or odd stream
        return False
