"""Errors that reach the user: each carries a one-line Chinese message that names what to fix."""


class NingliangError(Exception):
    """Base class: `str(err)` is the message shown to the user, without a traceback."""


class UnreadableFileError(NingliangError):
    """A whole input file could not be read (missing, empty, corrupt, wrong format, no usable columns)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"无法读取文件 {path}：{reason}")


class ConfigError(NingliangError):
    """A config or taxonomy file is invalid."""


class NoAcceptedRowsError(NingliangError):
    """No input file yielded an accepted row."""


class CallTooLargeError(NingliangError):
    """A call holds more rows than `ingest.max_rows_per_call`: refused before any heavy stage runs."""
