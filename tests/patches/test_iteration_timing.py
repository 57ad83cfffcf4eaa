"""``FreqtradeBot.process`` timing for ``/metrics`` ([R] 4): begin, run, record - also on error."""

from __future__ import annotations

import functools
import logging
from typing import Any

import pytest
from freqtrade.freqtradebot import FreqtradeBot

from trader247.patches import iteration_timing


def bot_class(fail: bool = False) -> tuple[type, list[str]]:
    events: list[str] = []

    @functools.wraps(FreqtradeBot.process)
    def process(self: Any) -> None:
        events.append("process")
        if fail:
            raise RuntimeError("exchange down")

    return type("Bot", (), {"process": process}), events


def install(cls: type, events: list[Any]) -> bool:
    return iteration_timing.install(lambda _bot: events.append("begin"),
                                    lambda _bot, seconds: events.append(("record", seconds)), cls)


@pytest.mark.parametrize("fail", [False, True])
def test_each_iteration_is_begun_then_recorded_even_when_it_raises(fail: bool) -> None:
    cls, events = bot_class(fail)
    assert install(cls, events)
    if fail:
        with pytest.raises(RuntimeError, match="exchange down"):
            cls().process()
    else:
        assert cls().process() is None
    assert events[:2] == ["begin", "process"]
    assert events[2][0] == "record" and events[2][1] >= 0.0
    assert len(events) == 3


def test_install_is_idempotent() -> None:
    cls, events = bot_class()
    assert install(cls, events) is True
    assert install(cls, events) is False
    cls().process()
    assert events.count("begin") == 1


def test_a_process_with_arguments_is_left_alone_with_one_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Bot:
        def process(self, now: float) -> None:  # a wrapper passing nothing would break it
            pass

    with caplog.at_level(logging.ERROR):
        assert install(Bot, []) is False
    assert getattr(Bot.process, "__trader247_patch__", None) is None
    assert len(caplog.records) == 1
    assert "freqtrade.freqtradebot.FreqtradeBot.process(self, now) has parameters it " \
           "did not have: now" in caplog.text


def test_installs_on_freqtrades_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FreqtradeBot, "process", FreqtradeBot.process)
    iteration_timing.install(lambda _bot: None, lambda _bot, seconds: None)
    assert FreqtradeBot.process.__trader247_patch__ == "iteration_timing"
