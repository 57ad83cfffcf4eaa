"""A SIGTERM inside one of freqtrade's writes: the shared session is healed before shutdown.

Both states were seen in the launcher's SIGTERM test: inside a flush (``PendingRollbackError``)
and inside a commit after the database committed (``'committed' state; no further SQL can be
emitted``). Before the fix the second one made our state write and freqtrade's final commit fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from freqtrade.persistence import Trade, init_db
from sqlalchemy import event, text
from sqlalchemy.exc import InvalidRequestError

from trader247.adapters.state_store import heal_shared_session


@pytest.fixture(autouse=True)
def database() -> Iterator[None]:
    init_db("sqlite://")
    yield
    Trade.session.remove()


def a_trade() -> Trade:
    return Trade(pair="BTC/USD", stake_amount=10.0, amount=0.1, open_rate=100.0, fee_open=0.0,
                 fee_close=0.0, exchange="coinbase", open_date=datetime.now(UTC),
                 is_open=True)


def interrupt_once(name: str) -> None:
    def boom(*_args: object) -> None:
        event.remove(Trade.session(), name, boom)
        raise KeyboardInterrupt  # what freqtrade's SIGTERM handler raises

    event.listen(Trade.session(), name, boom)


@pytest.mark.parametrize("moment", ["after_flush", "after_commit"])
def test_an_interrupted_write_is_healed_and_freqtrades_final_commit_works(moment: str) -> None:
    Trade.session.add(a_trade())
    interrupt_once(moment)
    with pytest.raises(KeyboardInterrupt):
        Trade.commit()
    with pytest.raises(InvalidRequestError):
        Trade.session.execute(text("SELECT 1"))
    assert heal_shared_session() is True
    assert Trade.session.execute(text("SELECT 1")).scalar() == 1
    Trade.commit()  # freqtrade's last step of cleanup()
    # An interrupted flush was never committed; an interrupted commit is on disk.
    assert len(Trade.get_open_trades()) == (1 if moment == "after_commit" else 0)


def test_a_healthy_session_is_left_alone() -> None:
    Trade.session.add(a_trade())
    Trade.commit()
    assert heal_shared_session() is False
    assert len(Trade.get_open_trades()) == 1
