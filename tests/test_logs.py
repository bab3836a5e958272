"""``LENSMOR_LOG``: one environment variable turns on the SDK's logger, once, on stderr."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from lensmor_async import AsyncLensmor, ConfigurationError
from lensmor_async.testing import FakeLensmor

LOGGER = logging.getLogger("lensmor_async")


@pytest.fixture(autouse=True)
def restore_logger() -> Iterator[None]:
    level, handlers = LOGGER.level, list(LOGGER.handlers)
    yield
    LOGGER.setLevel(level)
    LOGGER.handlers[:] = handlers


def _added_handlers() -> list[logging.Handler]:
    return [h for h in LOGGER.handlers if type(h).__name__ == "_EnvHandler"]


@pytest.mark.anyio
async def test_lensmor_log_debug_prints_request_lines_to_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LENSMOR_LOG", "debug")
    async with (
        FakeLensmor() as fake,
        AsyncLensmor(fake.api_key, base_url=fake.url, testing=True) as client,
    ):
        await client.events.get("101")
    err = capsys.readouterr().err
    assert "GET /external/events/{id} -> 200" in err
    assert LOGGER.level == logging.DEBUG


def test_lensmor_log_info_sets_the_level_and_adds_one_handler_however_many_clients(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LENSMOR_LOG", "INFO")
    for _ in range(3):
        AsyncLensmor("k", base_url="http://127.0.0.1:9", testing=True)
    assert LOGGER.level == logging.INFO
    assert len(_added_handlers()) == 1


def test_without_lensmor_log_logging_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LENSMOR_LOG", raising=False)
    before = (LOGGER.level, list(LOGGER.handlers))
    AsyncLensmor("k", base_url="http://127.0.0.1:9", testing=True)
    assert (LOGGER.level, list(LOGGER.handlers)) == before


def test_an_unknown_lensmor_log_value_is_a_configuration_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LENSMOR_LOG", "verbose")
    with pytest.raises(ConfigurationError, match="LENSMOR_LOG must be 'info' or 'debug'"):
        AsyncLensmor("k", base_url="http://127.0.0.1:9", testing=True)
