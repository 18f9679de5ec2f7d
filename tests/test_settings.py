from pathlib import Path

import pytest
from pydantic import ValidationError

from pipelines.errors import ConfigError
from pipelines.settings import PipelineConfig, load_config


def test_defaults_without_a_file() -> None:
    assert load_config(None) == PipelineConfig()


def test_a_yaml_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("dedup:\n  near_threshold: 0.8\nembed:\n  batch_size: 8\n", encoding="utf-8")
    config = load_config(path)
    assert config.dedup.near_threshold == 0.8 and config.embed.batch_size == 8
    assert config.mapping == PipelineConfig().mapping


@pytest.mark.parametrize(
    ("text", "expected"),
    [("dedup: [1, 2", "无法读取"), ("- a\n- b\n", "键值映射"), ("dedup:\n  unknown: 1\n", "dedup.unknown")],
)
def test_bad_files_name_the_problem(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_config_is_frozen() -> None:
    with pytest.raises(ValidationError):
        PipelineConfig().dedup.near_threshold = 0.1  # type: ignore[misc]
