from __future__ import annotations

import pytest

from config.settings import SettingsError, load_settings, normalize_database_url


def test_database_urls_get_the_async_driver():
    assert normalize_database_url("sqlite:///var/gw.db") == "sqlite+aiosqlite:///var/gw.db"
    assert normalize_database_url("postgresql://u@h:5432/db") == "postgresql+asyncpg://u@h:5432/db"
    assert normalize_database_url("postgres://u@h/db") == "postgresql+asyncpg://u@h/db"
    with pytest.raises(SettingsError):
        normalize_database_url("mysql://x")


@pytest.mark.parametrize("env,name", [
    ({"GRIDWORKS_CLOCK": "tomorrow"}, "GRIDWORKS_CLOCK"),
    ({"GRIDWORKS_CLOCK": "2026-11-23T10:00:00"}, "GRIDWORKS_CLOCK"),
    ({"WHATSAPP_GRAPH_URL": "graph.local"}, "WHATSAPP_GRAPH_URL"),
    ({"WHATSAPP_API_VERSION": "latest"}, "WHATSAPP_API_VERSION"),
    ({"GRIDWORKS_LLM_TIMEOUT": "-1"}, "GRIDWORKS_LLM_TIMEOUT"),
    ({"DATABASE_URL": "oracle://x"}, "DATABASE_URL"),
])
def test_bad_values_fail_with_the_variable_name(env, name):
    with pytest.raises(SettingsError, match=name):
        load_settings(env)


def test_defaults_are_embedded_and_config_files_are_loaded():
    s = load_settings({})
    assert s.storage.database_url.startswith("sqlite+aiosqlite:///")
    assert s.storage.redis_url is None and s.whatsapp.graph_url == "https://graph.facebook.com"
    assert s.clock_start is None
