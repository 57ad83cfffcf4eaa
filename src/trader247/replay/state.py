"""What a scenario sets and the control API changes while the replay runs.

``ScenarioState`` is the one mutable place shared by the parts of the replay: the faults, the
price scripts, the product overrides and the order book's shape. The parts receive it (or the
piece of it they need) when they are built; none of them holds the ``ReplayExchange``.

Overrides and the book shape are replaced whole, never edited in place, so a request that reads
them while the control API writes sees the old or the new value, never half of an update.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from trader247.replay.faults import FaultEngine
from trader247.replay.pricescript import PriceScripts
from trader247.replay.scenario import HIDDEN, BookConfig, BookShape, Scenario

_NONE: Mapping[str, Any] = {}


class ScenarioState:
    def __init__(self, scenario: Scenario | None = None) -> None:
        scenario = scenario or Scenario()
        self.faults = FaultEngine(scenario.faults, seed=scenario.seed)
        self.scripts = PriceScripts(scenario.price_scripts)
        self._overrides: dict[str, dict[str, Any]] = {
            pid: dict(fields) for pid, fields in scenario.products.items()}
        self._book = scenario.book

    # -- product overrides -----------------------------------------------------------------
    @property
    def overrides(self) -> dict[str, dict[str, Any]]:
        """Every override, by product (a copy: change them with ``merge_overrides``)."""
        return {pid: dict(fields) for pid, fields in self._overrides.items()}

    def overrides_of(self, product_id: str) -> Mapping[str, Any]:
        return self._overrides.get(product_id, _NONE)

    def hidden(self, product_id: str) -> bool:
        return bool(self._overrides.get(product_id, _NONE).get(HIDDEN))

    def merge_overrides(self, products: Mapping[str, Mapping[str, Any]]) -> None:
        merged = self.overrides
        for pid, fields in products.items():
            merged.setdefault(pid, {}).update(fields)
        self._overrides = merged

    def clear_overrides(self) -> None:
        self._overrides = {}

    # -- the order book's shape ------------------------------------------------------------
    @property
    def book(self) -> BookConfig:
        return self._book

    @book.setter
    def book(self, book: BookConfig) -> None:
        self._book = book

    def book_shape(self, product_id: str) -> BookShape:
        return self._book.for_pair(product_id)


def named_pairs(scenario: Scenario) -> set[str]:
    """Every product a scenario names (to warn about the ones the data lacks: usually typos)."""
    return set(scenario.products) | set(scenario.book.pairs) | {
        f.pair for f in scenario.faults if f.pair} | {
        s.pair for s in scenario.price_scripts if s.pair}
