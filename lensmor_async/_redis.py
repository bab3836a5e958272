"""The Redis client every Redis-backed store builds: imported lazily, without retries.

``redis`` is an optional dependency (``pip install 'lensmor-async[redis]'``); the
ledger, the journal and the shared rate limit import it only when one is created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lensmor_async._core.validation import is_seconds
from lensmor_async.errors import ConfigurationError

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["check_redis_target", "redis_client"]

_INSTALL_HINT = "needs the redis package: pip install 'lensmor-async[redis]'"
_HEALTH_CHECK_INTERVAL = 30


def check_redis_target(url: object, key: object, what: str) -> None:
    """Refuse a missing URL or key prefix before any client is built."""
    if not isinstance(url, str) or not url:
        raise ConfigurationError(f"{what} needs a redis:// or rediss:// URL")
    if not isinstance(key, str) or not key:
        raise ConfigurationError(f"{what} key must be a non-empty str")


def redis_client(url: str, socket_timeout: float, max_connections: int, what: str) -> Redis:
    """Import redis lazily (it is an optional extra) and build a client without retries.

    A blocking pool makes a burst of concurrent calls queue for a connection instead of
    failing with "Too many connections". Shared by the Redis ledger, journal and rate limit.
    """
    if not is_seconds(socket_timeout):
        raise ConfigurationError(f"socket_timeout must be seconds > 0, got {socket_timeout!r}")
    if (
        isinstance(max_connections, bool)
        or not isinstance(max_connections, int)
        or max_connections < 1
    ):
        raise ConfigurationError("max_connections must be an int >= 1")
    try:
        from redis.asyncio import BlockingConnectionPool, Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
    except ImportError as exc:
        raise ConfigurationError(f"{what} {_INSTALL_HINT}") from exc
    try:
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=max_connections,
            timeout=socket_timeout,
            decode_responses=True,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            health_check_interval=_HEALTH_CHECK_INTERVAL,
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as exc:
        # The message is redis-py's own and may quote the URL, which can hold a password.
        raise ConfigurationError(f"the {what} URL is not usable") from exc
    return Redis.from_pool(pool)
