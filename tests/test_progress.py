"""Progress reporting (pipelines/progress.py and the encoders): what the terminal, a log file and --quiet get, and
that reporting never changes a vector."""

import io
import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from pipelines import schema as s
from pipelines.embed import CachedEncoder, ReportingEncoder, USEEncoder, demand_vectors
from pipelines.progress import BarDisplay, LineDisplay, StageDisplay, finished_text, make_display
from pipelines.settings import EmbedConfig
from tests.fakes import HashEncoder


class Recorder:
    """A Progress that keeps what it was told."""

    def __init__(self) -> None:
        self.expected: list[tuple[int, str]] = []
        self.advanced: list[int] = []

    def expect(self, n: int, unit: str = "条") -> None:
        self.expected.append((n, unit))

    def advance(self, n: int) -> None:
        self.advanced.append(n)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


TEXTS = ["钛合金锻件热处理", "钒电池电解液", "白酒窖池监测", "钛合金锻件热处理", "工业机器人减速器", "锂电隔膜涂覆"]


def test_use_reports_every_batch_and_gives_the_same_vectors() -> None:
    plain = USEEncoder(batch_size=2).encode(TEXTS)
    recorder = Recorder()
    reported = USEEncoder(batch_size=2).encode(TEXTS, progress=recorder)
    assert np.array_equal(plain, reported)
    assert recorder.advanced == [2, 2, 2]


def test_cache_reports_repeats_then_hits_then_the_inner_batches_and_gives_the_same_vectors(tmp_path: Path) -> None:
    inner, recorder = USEEncoder(batch_size=2), Recorder()
    runs = {}
    for name, progress in (("quiet", None), ("reported", recorder)):
        CachedEncoder(inner, tmp_path / name).encode(TEXTS[:2])  # a warm start: two texts cached
        runs[name] = CachedEncoder(inner, tmp_path / name).encode(TEXTS, progress=progress)
    # USE's vectors depend on which texts share a batch, so the same batches must be made with and without progress
    assert np.array_equal(runs["quiet"], runs["reported"])
    assert np.array_equal(runs["reported"], CachedEncoder(inner, tmp_path / "reported").encode(TEXTS))  # cached
    # the repeated text at once, the 2 hits as they are read, then the 3 new distinct texts in USE batches of 2
    assert recorder.advanced == [1, 2, 2, 1]


def test_demand_vectors_announce_titles_and_bodies_and_match_without_progress() -> None:
    titles, cores = ["钛合金锻件", "窖池监测", "钒电池"], ["钛合金锻件\n热处理工艺优化", "窖池监测", "钒电池 电解液"]
    frame = pd.DataFrame({s.NORM_TITLE: titles, s.CORE_TEXT: cores})
    config = EmbedConfig(cache_dir=None)
    recorder = Recorder()
    with_progress = demand_vectors(frame, HashEncoder(), config, recorder)
    without = demand_vectors(frame, HashEncoder(), config)
    assert all(np.array_equal(a, b) for a, b in zip(with_progress, without, strict=True))
    assert recorder.expected == [(5, "文本")]  # 3 titles + 2 bodies (the second demand has none)
    assert sum(recorder.advanced) == 5


def test_reporting_encoder_announces_each_call_and_keeps_name_and_vectors() -> None:
    recorder = Recorder()
    wrapped = ReportingEncoder(HashEncoder(), recorder, "句")
    vectors = wrapped.encode(TEXTS[:3])
    assert wrapped.name == HashEncoder.name
    assert np.array_equal(vectors, HashEncoder().encode(TEXTS[:3]))
    assert recorder.expected == [(3, "句")] and recorder.advanced == [3]


def test_plain_lines_show_progress_of_long_stages_and_the_throughput_without_control_characters() -> None:
    out, clock = io.StringIO(), Clock()
    display = LineDisplay(out, interval=5.0, clock=clock)
    display.start(1, 10, "读取与校验")
    clock.now += 2.0
    display.finish(2.0, 1000, loaded=False)  # a short stage: one line
    display.start(4, 10, "句向量")
    display.expect(2000, "文本")
    clock.now += 1.0
    display.advance(500)  # within the interval: no line
    clock.now += 5.0
    display.advance(700)
    clock.now += 4.0
    display.advance(800)  # all done: the finished line says it
    display.finish(10.0, 1000, loaded=False)
    display.start(5, 10, "查重")
    display.finish(0.1, None, loaded=True)
    lines = out.getvalue().splitlines()
    assert lines == [
        "[ 1/10] 读取与校验 … 完成（1,000 条，2.0 秒，500 条/秒）",
        "[ 4/10] 句向量 …",
        "        句向量：1,200/2,000 文本（60%，200 文本/秒）",
        "[ 4/10] 句向量 完成（1,000 条，10.0 秒，100 条/秒）",
        "[ 5/10] 查重 … 已从中断处恢复（载入上次运行的结果，0.10 秒）",
    ]
    assert not any(ch < " " for ch in out.getvalue().replace("\n", ""))


def test_a_failing_stage_ends_its_line() -> None:
    out = io.StringIO()
    display = LineDisplay(out)
    display.start(7, 10, "相似聚类")
    display.abort()
    assert out.getvalue() == "[ 7/10] 相似聚类 …\n"


def test_bars_on_a_terminal_plain_lines_elsewhere_nothing_when_quiet() -> None:
    terminal = Terminal()
    display = make_display(True, terminal)
    assert isinstance(display, BarDisplay)
    display.start(4, 10, "句向量")
    display.expect(10, "文本")
    display.advance(4)
    display.finish(1.0, 5, loaded=False)
    assert "\x1b" in terminal.getvalue()  # a live display was drawn
    assert "[ 4/10] 句向量 完成（5 条，1.0 秒，5.0 条/秒）" in terminal.getvalue()
    assert isinstance(make_display(True, io.StringIO()), LineDisplay)
    quiet = make_display(False, terminal)
    assert type(quiet) is StageDisplay
    before = terminal.getvalue()
    quiet.start(1, 10, "读取与校验")
    quiet.expect(5)
    quiet.advance(5)
    quiet.finish(1.0, 5, loaded=False)
    assert terminal.getvalue() == before


def test_a_display_sent_to_another_process_is_silent() -> None:
    copy = pickle.loads(pickle.dumps(LineDisplay(io.StringIO())))
    assert type(copy) is StageDisplay


def test_finished_text() -> None:
    assert finished_text(2.0, 5000, loaded=False) == "完成（5,000 条，2.0 秒，2,500 条/秒）"
    assert finished_text(0.0, 3, loaded=False) == "完成（3 条，0.00 秒）"
    assert finished_text(0.25, 30, loaded=False) == "完成（30 条，0.25 秒，120 条/秒）"
    assert finished_text(1.5, None, loaded=False) == "完成（1.5 秒）"
    assert finished_text(0.2, 5000, loaded=True).startswith("已从中断处恢复")
