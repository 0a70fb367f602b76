"""Product configuration fails at start-up naming the key: a string where a boolean belongs, a missing cap, a
typo'd key or a value out of range — never a silent default or a crash in a later turn."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from config.product import check_product_config
from config.settings import CONFIG_DIR, SettingsError, load_product_config, load_settings


def _config(tmp_path: Path, file: str, old: str, new: str) -> Path:
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    text = (target / file).read_text(encoding="utf-8")
    assert old in text
    (target / file).write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


def test_the_shipped_configuration_is_valid_and_typed() -> None:
    typed = check_product_config(load_product_config())
    assert typed["engine"].group_commit is False and typed["engine"].max_quantity == 100000
    assert typed["trading"].confirmation.ttl_seconds == 120


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    ("engine.toml", "group_commit = false", 'group_commit = "false"', "engine.toml: group_commit: Input should be a valid boolean"),
    ("engine.toml", "max_quantity = 100000", "", "engine.toml: max_quantity: Field required"),
    ("engine.toml", "max_quantity = 100000", "max_quantity = 100000\nmax_qty = 5", "engine.toml: max_qty: Extra inputs"),
    ("engine.toml", "depth_levels = 5", "depth_levels = 0", "engine.toml: market.depth_levels: Input should be greater"),
    ("trading.toml", "ttl_seconds = 120", "ttl_seconds = 1", "trading.toml: confirmation.ttl_seconds: Input should be"),
    ("trading.toml", "recent_limit = 8", "recent_limt = 8", "trading.toml: orders.recent_li"),
])
def test_a_bad_file_stops_the_start_up_naming_the_key(tmp_path: Path, file: str, old: str, new: str,
                                                         message: str) -> None:
    config_dir = _config(tmp_path, file, old, new)
    with pytest.raises(SettingsError) as err:
        load_settings({"GRIDWORKS_STATE_DIR": str(tmp_path / "state")}, config_dir=config_dir)
    assert str(err.value).startswith(message), str(err.value)
