"""Frozen settings, parsed once at start-up from the environment and ``config/*.toml``.

Nothing below the composition root reads ``os.environ``: each component receives only its own
section. Bad values fail loudly here, with the variable's name, instead of deep inside a handler.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Mapping

from config.product import (CONFIG_DIR, ProductConfig, ProductConfigError, load_product_config,
                            shipped_product_config)

DEFAULT_GRAPH_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "22.0"
DEFAULT_METRICS_PORT = 9464


class SettingsError(ValueError):
    """A configuration value is missing or malformed; the message names the variable."""


@dataclass(frozen=True, slots=True)
class WhatsAppConfig:
    app_secret: str | None = None
    verify_token: str | None = None
    token: str | None = None
    phone_number_id: str | None = None
    graph_url: str = DEFAULT_GRAPH_URL
    api_version: str = DEFAULT_API_VERSION


@dataclass(frozen=True, slots=True)
class StorageConfig:
    database_url: str = "sqlite+aiosqlite:///gridworks.db"
    redis_url: str | None = None


#: Default partitions. A partition runs one turn at a time, so they bound the turns in flight: each turn
#: waits on its durable audit commit (an fsync on SQLite), and 16 capped one process near 300 messages/s
#: with its CPU half idle; 64 sustain 600/s (issue 10, measured). A cluster keeps 16 by default: its
#: partitions are Redis streams and leases, and changing the number re-maps users (drain the intake first).
EMBEDDED_PARTITIONS = 64
CLUSTER_PARTITIONS = 16


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """How the roles share work when ``REDIS_URL`` is set (see README "Run at scale")."""

    partitions: int = CLUSTER_PARTITIONS   # intake/outbound partitions; one user always maps to one partition
    send_rate: float = 80.0         # messages/s for the business number (Meta's tier: 80 by default, up to 1,000)
    engine_timeout_s: float = 10.0  # a worker waits this long for the engine before answering "try again"
    lease_s: float = 5.0            # a dead worker's partitions (or a dead engine) are taken over after this
    prefix: str = "gw:"             # every Redis key of the deployment starts with it (one Redis, many clusters)
    intake_max: int = 2000          # embedded: messages waiting in the in-process intake; past it the webhook
                                    # answers 503 and Meta retries later (work waits there, not in memory)


@dataclass(frozen=True, slots=True)
class SecretsConfig:
    """Key material. Empty values mean "generate once and keep in the state directory" (development)."""

    signing_key: str | None = None
    blinding_seed: str | None = None
    data_keys: tuple[str, ...] = ()
    state_dir: Path = Path(".gridworks")


@dataclass(frozen=True, slots=True)
class LLMConfig:
    api_key: str | None = None
    base_url: str | None = None
    model: str = "gpt-4o-mini"
    timeout_s: float = 3.0


@dataclass(frozen=True, slots=True)
class Settings:
    whatsapp: WhatsAppConfig = field(default_factory=WhatsAppConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    secrets: SecretsConfig = field(default_factory=SecretsConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    clock_start: datetime | None = None
    log_level: str = "INFO"
    tick_seconds: float = 15.0      # how often the server moves the market and pushes fills, alerts, reminders
    #: ``config/*.toml``, typed (:mod:`config.product`); each component is handed only its own section.
    product: ProductConfig = field(default_factory=shipped_product_config)
    #: Port of the metrics-only HTTP server of a worker or engine role (the web role serves /metrics on its
    #: own port); None: off. ``GRIDWORKS_METRICS_PORT``: a port, 0 for any free one, or ``off``.
    metrics_port: int | None = DEFAULT_METRICS_PORT
    #: After SIGTERM the web role answers /readyz "draining" for this long before it closes, so the load
    #: balancer stops sending first (``GRIDWORKS_DRAIN_SECONDS``; set it above the balancer's probe period).
    drain_seconds: float = 0.0


def normalize_database_url(url: str) -> str:
    """Accept the usual ``sqlite:///path`` / ``postgresql://…`` forms and pick the async driver."""
    url = url.strip()
    if not url:
        raise SettingsError("DATABASE_URL is empty")
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise SettingsError("DATABASE_URL is not a URL (expected sqlite:///path or postgresql://host/db)")
    base = scheme.split("+", 1)[0].lower()
    if base == "sqlite":
        return f"sqlite+aiosqlite://{rest}"
    if base in ("postgres", "postgresql"):
        return _checked_url(f"postgresql+asyncpg://{rest}")
    raise SettingsError(f"DATABASE_URL scheme {scheme!r} is not supported (use sqlite:// or postgresql://)")


def _checked_url(url: str) -> str:
    """``url`` when SQLAlchemy can parse it (host, port, database); the message never shows the password."""
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
    except (ValueError, TypeError) as exc:
        port = url.rsplit("@", 1)[-1].split("/", 1)[0].rpartition(":")[2]
        detail = f"its port {port!r} is not a number" if port and not port.isdigit() else "it cannot be parsed"
        raise SettingsError(f"DATABASE_URL is not a valid PostgreSQL URL: {detail}") from exc
    del parsed
    return url


def _parse_clock(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise SettingsError(f"GRIDWORKS_CLOCK is not an ISO-8601 time: {raw!r}") from exc
    if value.tzinfo is None:
        raise SettingsError("GRIDWORKS_CLOCK needs a UTC offset, e.g. 2026-11-23T10:00:00+05:30")
    return value


def _parse_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from exc
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


def _parse_int(env: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from exc
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low} and {high}, got {raw!r}")
    return value


def product_config(config_dir: Path = CONFIG_DIR) -> ProductConfig:
    """The typed product configuration of ``config_dir``; any problem is a :class:`SettingsError` naming the
    file and the key, so the process stops before it serves anyone."""
    try:
        return load_product_config(config_dir)
    except ProductConfigError as exc:
        raise SettingsError(str(exc)) from None


def load_settings(env: Mapping[str, str] | None = None, *, config_dir: Path = CONFIG_DIR) -> Settings:
    """Build :class:`Settings` from ``env`` (default ``os.environ``) and the TOML files in ``config_dir``."""
    env = dict(os.environ if env is None else env)
    graph_url = env.get("WHATSAPP_GRAPH_URL") or DEFAULT_GRAPH_URL
    if not graph_url.startswith(("http://", "https://")):
        raise SettingsError(f"WHATSAPP_GRAPH_URL must start with http:// or https://, got {graph_url!r}")
    api_version = (env.get("WHATSAPP_API_VERSION") or DEFAULT_API_VERSION).lstrip("v")
    try:
        float(api_version)
    except ValueError as exc:
        raise SettingsError(f"WHATSAPP_API_VERSION must look like 22.0, got {api_version!r}") from exc
    state_dir = Path(env.get("GRIDWORKS_STATE_DIR") or ".gridworks")
    db_url = env.get("DATABASE_URL") or f"sqlite:///{state_dir / 'gridworks.db'}"
    data_keys = tuple(k.strip() for k in (env.get("GRIDWORKS_DATA_KEYS") or "").split(",") if k.strip())
    level = (env.get("GRIDWORKS_LOG_LEVEL") or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"GRIDWORKS_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    return Settings(
        whatsapp=WhatsAppConfig(
            app_secret=env.get("WHATSAPP_APP_SECRET") or None,
            verify_token=env.get("WHATSAPP_VERIFY_TOKEN") or None,
            token=env.get("WHATSAPP_TOKEN") or None,
            phone_number_id=env.get("WHATSAPP_PHONE_NUMBER_ID") or None,
            graph_url=graph_url.rstrip("/"),
            api_version=api_version,
        ),
        storage=StorageConfig(
            database_url=normalize_database_url(db_url),
            redis_url=env.get("REDIS_URL") or None,
        ),
        secrets=SecretsConfig(
            signing_key=env.get("GRIDWORKS_SIGNING_KEY") or None,
            blinding_seed=env.get("GRIDWORKS_BLINDING_SEED") or None,
            data_keys=data_keys,
            state_dir=state_dir,
        ),
        llm=LLMConfig(
            api_key=env.get("OPENAI_API_KEY") or None,
            base_url=env.get("OPENAI_BASE_URL") or None,
            model=env.get("GRIDWORKS_LLM_MODEL") or "gpt-4o-mini",
            timeout_s=_parse_float(env, "GRIDWORKS_LLM_TIMEOUT", 3.0),
        ),
        cluster=ClusterConfig(
            partitions=_parse_int(env, "GRIDWORKS_PARTITIONS", CLUSTER_PARTITIONS if env.get("REDIS_URL")
                                  else EMBEDDED_PARTITIONS, low=1, high=1024),
            send_rate=_parse_float(env, "GRIDWORKS_SEND_RATE", 80.0),
            engine_timeout_s=_parse_float(env, "GRIDWORKS_ENGINE_TIMEOUT", 10.0),
            lease_s=_parse_float(env, "GRIDWORKS_LEASE_SECONDS", 5.0),
            prefix=env.get("GRIDWORKS_REDIS_PREFIX") or "gw:",
            intake_max=_parse_int(env, "GRIDWORKS_INTAKE_MAX", 2000, low=1, high=10_000_000),
        ),
        clock_start=_parse_clock(env.get("GRIDWORKS_CLOCK")),
        log_level=level,
        tick_seconds=_parse_float(env, "GRIDWORKS_TICK_SECONDS", 15.0),
        product=product_config(config_dir),
        metrics_port=_parse_metrics_port(env.get("GRIDWORKS_METRICS_PORT")),
        drain_seconds=_parse_drain(env.get("GRIDWORKS_DRAIN_SECONDS")),
    )


def _parse_drain(raw: str | None) -> float:
    if raw in (None, ""):
        return 0.0
    try:
        value = float(raw)
    except ValueError as exc:
        raise SettingsError(f"GRIDWORKS_DRAIN_SECONDS must be a number, got {raw!r}") from exc
    if not 0 <= value <= 600:
        raise SettingsError(f"GRIDWORKS_DRAIN_SECONDS must be between 0 and 600, got {raw!r}")
    return value


def _parse_metrics_port(raw: str | None) -> int | None:
    if raw in (None, ""):
        return DEFAULT_METRICS_PORT
    if raw.strip().lower() in ("off", "none", "no", "false"):
        return None
    try:
        port = int(raw)
    except ValueError as exc:
        raise SettingsError(f"GRIDWORKS_METRICS_PORT must be a port number or 'off', got {raw!r}") from exc
    if not 0 <= port <= 65535:
        raise SettingsError(f"GRIDWORKS_METRICS_PORT must be between 0 and 65535, got {raw!r}")
    return port
