"""Parallel hyperopt (``-j 2``) of a strategy with ExposureCapMixin, with no patch of freqtrade.

freqtrade's SampleStrategy with the mixin, as a user writes it, and ``Trader247Strategy``. While
the mixin's class chain ended at ``object`` every epoch failed with "Could not pickle object as
excessively deep recursion required" (``-j 1`` worked) and a patch (``hyperopt_pickle``) filtered
freqtrade's walk; the mixin now subclasses ``IStrategy``, where that walk stops. Slow (two worker
processes on the shared CI cores): ``make test-all``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.support import CHILD_ENV, REPO
from trader247.cli.demo import exchange_override
from trader247.cli.processes import free_port, start_replay, stop

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CAPPED = '''
from sample_strategy import SampleStrategy
from trader247.strategy import ExposureCapMixin


class CappedSample(ExposureCapMixin, SampleStrategy):
    pass
'''


@pytest.mark.parametrize("strategy", ["CappedSample", "Trader247Strategy"])
def test_parallel_hyperopt_of_a_mixin_strategy_runs_every_epoch(
    tmp_path: Path, data_dir: Path, strategy: str
) -> None:
    import freqtrade

    strategies = tmp_path / "strategies"
    strategies.mkdir()
    shutil.copy(Path(freqtrade.__file__).parent / "templates" / "sample_strategy.py",
                strategies / "sample_strategy.py")
    (strategies / "capped_sample.py").write_text(CAPPED)
    subprocess.run([sys.executable, "-m", "freqtrade", "create-userdir", "--userdir",
                    str(tmp_path / "user_data")], check=True, capture_output=True, env=CHILD_ENV)
    port = free_port()
    with (tmp_path / "replay.log").open("w") as log:
        replay = start_replay(data_dir, port, log=log)
        try:
            override = tmp_path / "exchange.json"
            override.write_text(json.dumps(exchange_override(port)))
            done = subprocess.run(
                [sys.executable, "-m", "freqtrade", "hyperopt", "-c",
                 str(REPO / "config" / "config.json"), "-c", str(override),
                 "--userdir", str(tmp_path / "user_data"), "--strategy", strategy,
                 "--strategy-path",
                 str(strategies if strategy == "CappedSample" else REPO / "user_data" / "strategies"), "--datadir", str(data_dir),
                 "--hyperopt-loss", "SharpeHyperOptLossDaily", "--spaces", "buy", "-e", "4",
                 "-j", "2", "--timerange", "20250101-20250201", "--disable-param-export"],
                cwd=REPO, capture_output=True, text=True, timeout=600, env=CHILD_ENV)
        finally:
            stop(replay, grace=5.0)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "PicklingError" not in output
    assert "4 epochs saved" in output
    assert "trader247 patch" not in output  # nothing of freqtrade's is patched in hyperopt
