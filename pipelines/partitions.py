"""Row partitions: how a stage that works row by row is cut for a Dask cluster and put back together (no Prefect
here: pipelines/flows.py submits the partitions to the flow's task runner).

Only what gives every row the same result, bit for bit, in any partition is partitioned: segmentation, the mapper's
row-by-row scoring (`IndustryMapper.describe`), and sentence encoding, cut differently: the texts the vector cache
lacks, in pieces of whole encoder batches (`embed.piece_size`), so that each vector is the one a single call gives.
Matrix products over rows are not: a row's float bits depend on how many rows are multiplied together, so the
mapper's similarities, the learned model's opinion, duplicate detection and clustering are computed for the whole
call in the flow's process.
"""

from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")


class RowSliceable(Protocol):
    """Row-aligned data that knows its own rows (`Similarities`, `LearnedBlend`)."""

    def rows(self, start: int, stop: int) -> Any: ...


def row_ranges(n: int, rows: int) -> list[tuple[int, int]]:
    """[start, stop) of consecutive partitions of at most `rows` rows covering n rows, in order; a single range
    when `rows` is 0 (not partitioned) or n fits in one."""
    if rows <= 0 or n <= rows:
        return [(0, n)]
    return [(start, min(start + rows, n)) for start in range(0, n, rows)]


def take_rows(x: T, start: int, stop: int) -> T:
    """Rows [start, stop) of a frame, an array, a tuple of them or a `RowSliceable` (None stays None); a frame or
    array covered whole is returned itself."""
    if x is None:
        return x
    if isinstance(x, pd.DataFrame | np.ndarray):
        if start == 0 and stop == len(x):
            return x
        return x.iloc[start:stop] if isinstance(x, pd.DataFrame) else x[start:stop]  # type: ignore[return-value]
    if isinstance(x, tuple):
        return tuple(take_rows(part, start, stop) for part in x)  # type: ignore[return-value]
    return x.rows(start, stop)  # type: ignore[attr-defined]


def concat_rows(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The partitions' frames in order, as one frame (a single one as it is)."""
    return parts[0] if len(parts) == 1 else pd.concat(parts)
