"""The backtest here uses the e2e suite's replay exchange fixtures."""

from tests.e2e.conftest import replay, replay_factory  # noqa: F401
