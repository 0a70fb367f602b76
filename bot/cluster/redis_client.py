"""The one way a GridWorks process connects to Redis.

A worker keeps many commands in flight (blocking stream reads per partition, sends marking their keys, engine
calls), more than redis-py's default pool of 100 connections allows; past that redis-py raises at once. A
blocking pool makes a burst wait for a free connection instead of failing the work.
"""

from __future__ import annotations

import redis.asyncio as redis_asyncio

MAX_CONNECTIONS = 512
WAIT_S = 20.0


def connect(url: str) -> redis_asyncio.Redis:
    pool = redis_asyncio.BlockingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS, timeout=WAIT_S)
    return redis_asyncio.Redis(connection_pool=pool)
