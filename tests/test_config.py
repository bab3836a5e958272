"""Client configuration: the Secret wrapper, URL policy and env loading."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import attrs
import pytest

from lensmor_async._config import (
    DEFAULT_BASE_URL,
    ClientConfig,
    Secret,
    is_loopback_host,
    load_config,
    normalize_base_url,
    validate_header_value,
)
from lensmor_async._core.retry import RetryPolicy
from lensmor_async.errors import ConfigurationError

LONG_KEY = "sk_live_0123456789abcdefWXYZ"
SHORT_KEY = "short-key-123"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # The developer's own key must never leak into (or change) these tests.
    monkeypatch.delenv("LENSMOR_API_KEY", raising=False)
    monkeypatch.delenv("LENSMOR_BASE_URL", raising=False)


# --- Secret -------------------------------------------------------------------------------


def test_secret_repr_shows_only_the_last_four_chars_of_a_long_key() -> None:
    assert repr(Secret(LONG_KEY)) == "Secret('****WXYZ')"
    assert LONG_KEY[:-4] not in repr(Secret(LONG_KEY))


def test_secret_repr_shows_nothing_of_a_short_key() -> None:
    assert repr(Secret(SHORT_KEY)) == "Secret('****')"
    assert "123" not in repr(Secret(SHORT_KEY))


def test_secret_repr_threshold_is_sixteen_characters() -> None:
    assert repr(Secret("a" * 15 + "Z")) == "Secret('****aaaZ')"
    assert repr(Secret("a" * 14 + "Z")) == "Secret('****')"


def test_secret_str_and_format_match_repr() -> None:
    secret = Secret(LONG_KEY)
    assert str(secret) == repr(secret)
    assert f"{secret}" == repr(secret)
    assert LONG_KEY not in f"{secret!s} {secret!r}"


def test_secret_gives_the_raw_value_on_request() -> None:
    assert Secret(LONG_KEY).get_secret_value() == LONG_KEY


def test_secret_equality_compares_values() -> None:
    assert Secret(LONG_KEY) == Secret(LONG_KEY)
    assert Secret(LONG_KEY) != Secret(LONG_KEY + "x")
    assert Secret(LONG_KEY) != LONG_KEY


def test_equal_secrets_hash_equal() -> None:
    assert hash(Secret(LONG_KEY)) == hash(Secret(LONG_KEY))
    assert len({Secret(LONG_KEY), Secret(LONG_KEY)}) == 1


def test_secret_hash_does_not_depend_on_the_key_content() -> None:
    assert hash(Secret("a" * 20)) == hash(Secret("b" * 20))


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_secret_refuses_to_be_pickled(protocol: int) -> None:
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(Secret(LONG_KEY), protocol=protocol)


def test_secret_refuses_to_be_copied_by_the_pickle_protocol() -> None:
    with pytest.raises(TypeError):
        copy.copy(Secret(LONG_KEY))


def test_secret_has_no_instance_dict_to_leak_through() -> None:
    assert not hasattr(Secret(LONG_KEY), "__dict__")


# --- is_loopback_host / normalize_base_url ------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.1.2.3", "127.255.255.254", "localhost", "LOCALHOST", "::1", "[::1]"]
)
def test_loopback_hosts_are_recognised(host: str) -> None:
    assert is_loopback_host(host) is True


@pytest.mark.parametrize(
    "host",
    ["example.com", "10.0.0.1", "192.168.1.1", "0.0.0.0", "127.0.0.1.nip.io", "localhost.evil"],
)
def test_other_hosts_are_not_loopback(host: str) -> None:
    assert is_loopback_host(host) is False


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://platform.lensmor.com", "https://platform.lensmor.com"),
        ("https://platform.lensmor.com/", "https://platform.lensmor.com"),
        ("https://api.example.com/v1/", "https://api.example.com/v1"),
        ("  https://platform.lensmor.com  ", "https://platform.lensmor.com"),
        ("HTTPS://platform.lensmor.com", "https://platform.lensmor.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://127.0.0.2:9/", "http://127.0.0.2:9"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://[::1]:8080", "http://[::1]:8080"),
    ],
)
def test_acceptable_base_urls_are_normalised(url: str, expected: str) -> None:
    assert normalize_base_url(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",
        "http://platform.lensmor.com",
        "http://10.0.0.5:8080",
        "http://localhost.evil.com",
        "http://127.0.0.1.nip.io",
    ],
)
def test_plain_http_is_refused_for_non_loopback_hosts(url: str) -> None:
    with pytest.raises(ConfigurationError, match="plain http"):
        normalize_base_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://user:pass@platform.lensmor.com",
        "https://user@platform.lensmor.com",
        "https://platform.lensmor.com/?debug=1",
        "https://platform.lensmor.com/#frag",
        "http://user:pw@127.0.0.1:8080",
    ],
)
def test_credentials_query_and_fragment_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="credentials, a query or a fragment"):
        normalize_base_url(url)


@pytest.mark.parametrize(
    "url",
    ["", "platform.lensmor.com", "ftp://platform.lensmor.com", "https://", "file:///etc/passwd"],
)
def test_non_http_or_relative_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigurationError, match="absolute http"):
        normalize_base_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://[::1",
        "http://127.0.0.1:abc",
        "https://platform.lensmor.com:99999",
        "https://ho st.com",
    ],
)
def test_unparseable_base_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        normalize_base_url(url)


# --- validate_header_value ----------------------------------------------------------------


@pytest.mark.parametrize("value", ["", "key\r\nX-Evil: 1", "key\n", "k\x00", "k\x7f", "k\tey"])
def test_header_values_with_control_characters_are_refused(value: str) -> None:
    with pytest.raises(ConfigurationError, match="api_key"):
        validate_header_value("api_key", value)


def test_plain_header_values_pass() -> None:
    assert validate_header_value("api_key", LONG_KEY) == LONG_KEY


# --- ClientConfig -------------------------------------------------------------------------


def test_client_config_defaults() -> None:
    config = ClientConfig(api_key=Secret(LONG_KEY))
    assert config.base_url == DEFAULT_BASE_URL
    assert config.call_source == "api"
    assert config.timeout == 30.0
    assert config.deadline is None
    assert config.testing is False


def test_client_config_repr_never_contains_the_key() -> None:
    for key in (LONG_KEY, SHORT_KEY):
        text = repr(ClientConfig(api_key=Secret(key)))
        assert key not in text
        assert key[:-4] not in text
        assert "base_url='https://platform.lensmor.com'" in text


def test_client_config_is_frozen() -> None:
    config = ClientConfig(api_key=Secret(LONG_KEY))
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.timeout = 1.0  # type: ignore[misc]


def test_client_config_evolve_revalidates() -> None:
    config = ClientConfig(api_key=Secret(LONG_KEY))
    assert attrs.evolve(config, call_source="agent").call_source == "agent"
    with pytest.raises(ConfigurationError):
        attrs.evolve(config, call_source="robot")  # type: ignore[arg-type]


@pytest.mark.parametrize("source", ["robot", "API", "", "agent "])
def test_client_config_refuses_unknown_call_sources(source: Any) -> None:
    with pytest.raises(ConfigurationError, match="call_source"):
        ClientConfig(api_key=Secret(LONG_KEY), call_source=source)


def test_client_config_refuses_a_key_with_cr_lf() -> None:
    with pytest.raises(ConfigurationError):
        ClientConfig(api_key=Secret("abc\r\nX-Injected: 1"))


@pytest.mark.parametrize("key", ["uak_ключ_0123456789abcdef", "uak_clé_0123456789abcdef"])
def test_client_config_refuses_a_non_ascii_key_without_quoting_it(key: str) -> None:
    with pytest.raises(ConfigurationError, match="ASCII") as info:
        ClientConfig(api_key=Secret(key))
    assert key not in str(info.value)
    assert key[4:8] not in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timeout", 0),
        ("timeout", -1.0),
        ("timeout", float("nan")),
        ("deadline", 0),
        ("max_concurrency", 0),
        ("max_body_bytes", -1),
    ],
)
def test_client_config_refuses_non_positive_limits(field: str, value: float) -> None:
    options: dict[str, Any] = {field: value}
    with pytest.raises(ConfigurationError):
        ClientConfig(api_key=Secret(LONG_KEY), **options)


@pytest.mark.parametrize("intervals", [(), (1.0, -0.5)])
def test_client_config_refuses_bad_poll_intervals(intervals: tuple[float, ...]) -> None:
    with pytest.raises(ConfigurationError, match="poll_intervals"):
        ClientConfig(api_key=Secret(LONG_KEY), poll_intervals=intervals)


# --- load_config --------------------------------------------------------------------------


def test_load_config_uses_explicit_arguments() -> None:
    config = load_config(LONG_KEY, "http://127.0.0.1:9000/")
    assert config.api_key == Secret(LONG_KEY)
    assert config.base_url == "http://127.0.0.1:9000"


def test_load_config_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENSMOR_API_KEY", LONG_KEY)
    monkeypatch.setenv("LENSMOR_BASE_URL", "https://staging.example.com/")
    config = load_config(None, None)
    assert config.api_key.get_secret_value() == LONG_KEY
    assert config.base_url == "https://staging.example.com"


def test_explicit_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENSMOR_API_KEY", "env-key-env-key-env-key")
    monkeypatch.setenv("LENSMOR_BASE_URL", "https://env.example.com")
    config = load_config(LONG_KEY, "https://arg.example.com")
    assert config.api_key.get_secret_value() == LONG_KEY
    assert config.base_url == "https://arg.example.com"


def test_load_config_defaults_the_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENSMOR_API_KEY", LONG_KEY)
    assert load_config(None, None).base_url == DEFAULT_BASE_URL


def test_load_config_accepts_a_secret() -> None:
    secret = Secret(LONG_KEY)
    assert load_config(secret, None).api_key is secret


def test_missing_key_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="LENSMOR_API_KEY"):
        load_config(None, None)


def test_empty_key_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENSMOR_API_KEY", "")
    with pytest.raises(ConfigurationError):
        load_config(None, None)
    with pytest.raises(ConfigurationError):
        load_config("", None)


def test_key_with_cr_lf_from_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENSMOR_API_KEY", "abc\r\nX-Evil: 1")
    with pytest.raises(ConfigurationError) as info:
        load_config(None, None)
    assert "X-Evil" not in str(info.value)


def test_insecure_base_url_from_the_environment_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LENSMOR_BASE_URL", "http://example.com")
    with pytest.raises(ConfigurationError, match="plain http"):
        load_config(LONG_KEY, None)


def test_load_config_ignores_options_passed_as_none() -> None:
    config = load_config(LONG_KEY, None, timeout=None, call_source="agent")
    assert config.timeout == 30.0
    assert config.call_source == "agent"


def test_load_config_rejects_a_bad_call_source() -> None:
    with pytest.raises(ConfigurationError, match="call_source"):
        load_config(LONG_KEY, None, call_source="human")


def test_testing_mode_shortens_polls_and_retries() -> None:
    config = load_config(LONG_KEY, None, testing=True)
    assert config.testing is True
    assert config.poll_intervals == (0.01,)
    assert config.retry == RetryPolicy.testing()


def test_testing_mode_keeps_explicit_poll_intervals() -> None:
    assert load_config(LONG_KEY, None, testing=True, poll_intervals=(0.5,)).poll_intervals == (0.5,)


def test_configuration_errors_never_contain_the_key() -> None:
    bad = "sk_live_SECRETSECRET\nrest"
    with pytest.raises(ConfigurationError) as info:
        load_config(bad, None)
    assert "SECRETSECRET" not in str(info.value)
