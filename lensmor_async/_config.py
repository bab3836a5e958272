"""Client configuration: a frozen config object, env loading, the API-key wrapper, URL policy."""

from __future__ import annotations

import hmac
import ipaddress
import os
import re
from typing import Any, Literal, NoReturn
from urllib.parse import urlsplit

import attrs

from lensmor_async._core.retry import RetryPolicy
from lensmor_async.errors import ConfigurationError

DEFAULT_BASE_URL = "https://platform.lensmor.com"
CallSource = Literal["api", "agent"]
_CALL_SOURCES = ("api", "agent")
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
_LOOPBACK_NAMES = {"localhost"}


class Secret:
    """Holds the API key so that it never shows in repr, str, logs, tracebacks or pickles.

    The repr shows at most the last four characters, and only for keys long enough
    that four characters reveal nothing useful.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        """The raw key; call it only where the key must go on the wire."""
        return self._value

    def __repr__(self) -> str:
        tail = self._value[-4:] if len(self._value) >= 16 else ""
        return f"Secret('****{tail}')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant-time comparison: equality checks on secrets must not leak timing.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __reduce__(self) -> NoReturn:
        raise TypeError("an API key (Secret) is never pickled; rebuild the client from config")


def is_loopback_host(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost: the only hosts allowed over plain http."""
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def normalize_base_url(url: str) -> str:
    """Validate the base URL: https anywhere, http only on loopback; no credentials or query."""
    try:
        parts = urlsplit(url.strip())
        _ = parts.port  # parsing the port raises ValueError for ':abc' or ':99999'
    except ValueError as exc:
        raise ConfigurationError(f"base_url is not a valid URL: {url!r}") from exc
    if parts.scheme not in ("https", "http") or not parts.hostname or " " in parts.netloc:
        raise ConfigurationError(f"base_url must be an absolute http(s) URL, got {url!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ConfigurationError(
            "plain http:// is refused for non-loopback hosts (the API key would travel "
            "unencrypted); use https:// or a loopback address such as 127.0.0.1"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ConfigurationError("base_url must not contain credentials, a query or a fragment")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


def validate_header_value(name: str, value: str) -> str:
    """Refuse control characters (CR/LF header injection) before any I/O."""
    if not value or _HEADER_UNSAFE.search(value):
        raise ConfigurationError(f"{name} is empty or contains control characters")
    return value


def _positive(name: str) -> Any:
    def check(_inst: object, _attr: object, value: float | None) -> None:
        if value is not None and not value > 0:
            raise ConfigurationError(f"{name} must be > 0, got {value!r}")

    return check


@attrs.frozen(slots=True, repr=False)
class ClientConfig:
    """Everything a client needs, validated once; cheap to copy with ``attrs.evolve``."""

    api_key: Secret
    base_url: str = DEFAULT_BASE_URL
    call_source: CallSource = "api"
    timeout: float = attrs.field(default=30.0, validator=_positive("timeout"))
    """Seconds allowed for one HTTP attempt."""
    deadline: float | None = attrs.field(default=None, validator=_positive("deadline"))
    """Seconds allowed for a whole call (attempts, backoff, queueing, polling); None: no cap."""
    max_concurrency: int = attrs.field(default=64, validator=_positive("max_concurrency"))
    retry: RetryPolicy = attrs.Factory(RetryPolicy)
    max_body_bytes: int = attrs.field(default=16 * 1024 * 1024, validator=_positive("max_body"))
    poll_intervals: tuple[float, ...] = (3.0, 5.0, 10.0)
    """Waits between task polls; the last value repeats (the docs suggest 3 s, 5 s, 10 s …)."""
    testing: bool = False
    """Testing mode: no backoff sleeps and near-zero poll intervals (for FakeLensmor)."""

    def __attrs_post_init__(self) -> None:
        key = validate_header_value("api_key", self.api_key.get_secret_value())
        if not key.isascii():
            # Lensmor keys are ASCII; anything else would be encoded differently by
            # different HTTP stacks, so it is refused here, without quoting it.
            raise ConfigurationError("api_key must be ASCII text")
        if self.call_source not in _CALL_SOURCES:
            raise ConfigurationError(
                f"call_source must be 'api' or 'agent', got {self.call_source!r}"
            )
        if not self.poll_intervals or min(self.poll_intervals) < 0:
            raise ConfigurationError("poll_intervals must be a non-empty tuple of seconds >= 0")

    def __repr__(self) -> str:
        return (
            f"ClientConfig(base_url={self.base_url!r}, call_source={self.call_source!r}, "
            f"api_key={self.api_key!r})"
        )


def load_config(api_key: str | Secret | None, base_url: str | None, **options: Any) -> ClientConfig:
    """Build a config from arguments, falling back to LENSMOR_API_KEY / LENSMOR_BASE_URL."""
    raw_key = api_key if api_key is not None else os.environ.get("LENSMOR_API_KEY")
    if raw_key is None or raw_key == "":
        raise ConfigurationError("no API key: pass api_key=... or set LENSMOR_API_KEY")
    secret = raw_key if isinstance(raw_key, Secret) else Secret(raw_key)
    url = base_url or os.environ.get("LENSMOR_BASE_URL") or DEFAULT_BASE_URL
    options = {k: v for k, v in options.items() if v is not None}
    if options.get("testing"):
        options.setdefault("poll_intervals", (0.01,))
        options.setdefault("retry", RetryPolicy.testing())
    return ClientConfig(api_key=secret, base_url=normalize_base_url(url), **options)
