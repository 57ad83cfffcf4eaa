"""Fault injection: which request fails how, and when.

A fault matches a request by ``endpoint`` (or ``all``), optional ``pair`` and a window of real
seconds since server start ``[start_s, end_s)``; among the matching requests it fires on every
``every_n``-th, with ``probability`` (seeded, reproducible), at most ``max_hits`` times.

A fault with ``pair`` matches only the per-product requests of that pair (product, ticker,
candles, book; a create for that product, a cancel whose first order is of it, order/fill lists
filtered to it) -- except ``missing_volume``, which also strips that pair's fields from the
product list.

Order faults: ``http_5xx`` with ``after_accept: true`` on ``create_order`` / ``cancel_orders``
carries the request out and then answers 5xx (the ambiguous create); a ``timeout`` always
carries the request out before it hangs. ``partial_fill`` (``fraction``) caps the immediate
fill of a create; ``fill_on_cancel`` (``fraction``, default 1) fills that share of each open
order's remainder just before a cancel is processed (1: the cancel finds the order filled).
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

ENDPOINTS = ("products", "product", "ticker", "candles", "book", "currencies", "time",
             "accounts", "create_order", "cancel_orders", "order", "orders", "fills", "fee_tier",
             "all")
ORDER_ENDPOINTS = ("create_order", "cancel_orders")
VOLUME_FIELDS = ("volume_24h", "approximate_quote_24h_volume")
MAX_HANG_S = 120.0

_KIND_KEYS: dict[str, frozenset[str]] = {
    "http_5xx": frozenset({"status", "body", "after_accept"}),
    "rate_limit_429": frozenset({"retry_after_s"}),
    "latency": frozenset({"ms"}),
    "timeout": frozenset({"hang_s"}),
    "malformed_json": frozenset(),
    "missing_volume": frozenset({"fields"}),
    "partial_fill": frozenset({"fraction"}),
    "fill_on_cancel": frozenset({"fraction"}),
    "stale_candles": frozenset(),
}
KINDS = tuple(_KIND_KEYS)
_COMMON_KEYS = frozenset({"id", "kind", "endpoint", "pair", "start_s", "end_s", "duration_s",
                          "every_n", "probability", "seed", "max_hits"})


class ScenarioError(ValueError):
    """Invalid scenario input; the message names the source and the offending key."""


def product_id(pair: str) -> str:
    """``BTC/USD``, ``btc-usd`` or ``BTC-USD`` -> ``BTC-USD``."""
    return pair.strip().upper().replace("/", "-")


@dataclass
class Fault:
    id: str
    kind: str
    endpoint: str = "all"
    pair: str | None = None
    start_s: float = 0.0
    end_s: float | None = None
    every_n: int | None = None
    probability: float | None = None
    max_hits: int | None = None
    seed: int = 0
    status: int = 503
    body: str = "html"
    retry_after_s: float = 1.0
    ms: float = 500.0
    hang_s: float = 30.0
    fields: tuple[str, ...] = VOLUME_FIELDS
    after_accept: bool = False
    fraction: float = 1.0
    seen: int = 0
    hits: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def active(self, rel: float) -> bool:
        return self.start_s <= rel and (self.end_s is None or rel < self.end_s)

    def matches(self, endpoint: str, pair: str | None) -> bool:
        # content faults only make sense where their content is
        if self.kind == "stale_candles" and endpoint != "candles":
            return False
        if self.kind == "missing_volume" and endpoint not in ("products", "product"):
            return False
        if self.kind == "partial_fill" and endpoint != "create_order":
            return False
        if self.kind == "fill_on_cancel" and endpoint != "cancel_orders":
            return False
        if self.endpoint not in ("all", endpoint):
            return False
        if self.pair is None:
            return True
        if pair is not None:
            return pair == self.pair
        return self.kind == "missing_volume"

    def to_json(self, rel: float | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id, "kind": self.kind, "endpoint": self.endpoint, "pair": self.pair,
            "start_s": self.start_s, "end_s": self.end_s, "every_n": self.every_n,
            "probability": self.probability, "max_hits": self.max_hits,
            "seen": self.seen, "hits": self.hits,
        }
        data.update({key: getattr(self, key) for key in sorted(_KIND_KEYS[self.kind])})
        if "fields" in data:
            data["fields"] = list(self.fields)
        if rel is not None:
            data["active"] = self.active(rel) and (
                self.max_hits is None or self.hits < self.max_hits)
        return data


def number_field(raw: Mapping[str, Any], key: str, where: str, *, default: float | None = None,
            minimum: float | None = None, integer: bool = False) -> Any:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}.{key}: expected a number, got {value!r}")
    if integer and value != int(value):
        raise ScenarioError(f"{where}.{key}: expected a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ScenarioError(f"{where}.{key}: must be >= {minimum}, got {value!r}")
    return int(value) if integer else float(value)


def parse_window(raw: Mapping[str, Any], where: str,
                 now_s: float | None) -> tuple[float, float | None]:
    """``start_s``/``end_s``/``duration_s``; a missing start means "now" for runtime additions."""
    start = number_field(raw, "start_s", where, default=now_s or 0.0, minimum=0)
    end = number_field(raw, "end_s", where, minimum=0)
    duration = number_field(raw, "duration_s", where, minimum=0)
    if end is not None and duration is not None:
        raise ScenarioError(f"{where}: give end_s or duration_s, not both")
    if duration is not None:
        end = start + duration
    if end is not None and end <= start:
        raise ScenarioError(f"{where}.end_s: must be after start_s ({start}), got {end}")
    return start, end


def parse_fault(raw: Any, where: str, *, fault_id: str, seed: int,
                now_s: float | None = None) -> Fault:
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where}: expected a mapping, got {type(raw).__name__}")
    kind = raw.get("kind")
    if kind not in _KIND_KEYS:
        raise ScenarioError(f"{where}.kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    unknown = set(raw) - _COMMON_KEYS - _KIND_KEYS[kind]
    if unknown:
        raise ScenarioError(f"{where}.{sorted(unknown)[0]}: unknown key for a {kind} fault")
    endpoint = raw.get("endpoint", "candles" if kind == "stale_candles" else "all")
    if endpoint not in ENDPOINTS:
        raise ScenarioError(
            f"{where}.endpoint: expected one of {', '.join(ENDPOINTS)}, got {endpoint!r}")
    pair = raw.get("pair")
    if pair is not None and (not isinstance(pair, str) or not pair.strip()):
        raise ScenarioError(f"{where}.pair: expected a pair like 'BTC/USD', got {pair!r}")
    start, end = parse_window(raw, where, now_s)
    probability = number_field(raw, "probability", where, minimum=0)
    if probability is not None and probability > 1:
        raise ScenarioError(f"{where}.probability: must be within [0, 1], got {probability}")
    fault = Fault(
        id=str(raw.get("id", fault_id)),
        kind=kind,
        endpoint=endpoint,
        pair=product_id(pair) if pair else None,
        start_s=start,
        end_s=end,
        every_n=number_field(raw, "every_n", where, minimum=1, integer=True),
        probability=probability,
        max_hits=number_field(raw, "max_hits", where, minimum=1, integer=True),
        seed=number_field(raw, "seed", where, default=seed, integer=True),
    )
    if kind == "http_5xx":
        fault.status = number_field(raw, "status", where, default=503, minimum=500, integer=True)
        if fault.status > 599:
            raise ScenarioError(f"{where}.status: expected 500..599, got {fault.status}")
        fault.body = raw.get("body", "html")
        if fault.body not in ("html", "json"):
            raise ScenarioError(f"{where}.body: expected 'html' or 'json', got {fault.body!r}")
        fault.after_accept = raw.get("after_accept", False)
        if not isinstance(fault.after_accept, bool):
            raise ScenarioError(f"{where}.after_accept: expected true or false, "
                                f"got {fault.after_accept!r}")
        if fault.after_accept and endpoint not in ORDER_ENDPOINTS:
            raise ScenarioError(f"{where}.after_accept: only for endpoint "
                                f"{' or '.join(ORDER_ENDPOINTS)}, got {endpoint!r}")
    elif kind == "rate_limit_429":
        fault.retry_after_s = number_field(raw, "retry_after_s", where, default=1.0, minimum=0)
    elif kind == "latency":
        fault.ms = number_field(raw, "ms", where, default=500.0, minimum=0)
    elif kind == "timeout":
        fault.hang_s = number_field(raw, "hang_s", where, default=30.0, minimum=0)
        if fault.hang_s > MAX_HANG_S:
            raise ScenarioError(f"{where}.hang_s: at most {MAX_HANG_S:g} s, got {fault.hang_s}")
    elif kind == "missing_volume":
        fields = raw.get("fields", list(VOLUME_FIELDS))
        if (not isinstance(fields, list) or not fields
                or any(f not in VOLUME_FIELDS for f in fields)):
            raise ScenarioError(
                f"{where}.fields: expected a list out of {', '.join(VOLUME_FIELDS)}, "
                f"got {fields!r}")
        fault.fields = tuple(fields)
    elif kind in ("partial_fill", "fill_on_cancel"):
        default = 0.5 if kind == "partial_fill" else 1.0
        fault.fraction = number_field(raw, "fraction", where, default=default, minimum=0)
        if fault.fraction > 1:
            raise ScenarioError(f"{where}.fraction: must be within [0, 1], got {fault.fraction}")
    fault.rng = random.Random(fault.seed)
    return fault


@dataclass(frozen=True)
class Fired:
    """The faults that fired for one request, folded into what the server must do."""

    latency_s: float = 0.0
    terminal: Fault | None = None  # timeout, http_5xx or rate_limit_429
    malformed: bool = False
    missing_fields: Mapping[str | None, tuple[str, ...]] = field(default_factory=dict)
    stale_since_s: float | None = None
    ids: tuple[str, ...] = ()
    partial_fraction: float | None = None  # partial_fill: cap of a create's immediate fill
    fill_on_cancel: float | None = None  # fill_on_cancel: share filled before the cancel


class FaultEngine:
    def __init__(self, faults: Iterable[Fault] = (), seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = list(faults)
        self.seed = seed
        self._next = len(self._faults) + 1

    def next_id(self) -> str:
        with self._lock:
            fault_id = f"f{self._next}"
            self._next += 1
            return fault_id

    def parse_and_add(self, raws: list[Any], where: str, now_s: float) -> list[Fault]:
        faults = []
        for i, raw in enumerate(raws):
            fault_id = self.next_id()
            faults.append(parse_fault(raw, f"{where}[{i}]", fault_id=fault_id,
                                      seed=self.seed + int(fault_id[1:]), now_s=now_s))
        with self._lock:
            self._faults.extend(faults)
        return faults

    def clear(self, fault_id: str | None = None) -> int:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if fault_id is not None and f.id != fault_id]
            return before - len(self._faults)

    def snapshot(self, rel: float) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json(rel) for f in self._faults]

    def select(self, endpoint: str, pair: str | None, rel: float) -> Fired:
        latency = 0.0
        terminal: Fault | None = None
        malformed = False
        missing: dict[str | None, tuple[str, ...]] = {}
        stale: float | None = None
        partial: float | None = None
        fill_first: float | None = None
        ids: list[str] = []
        with self._lock:
            for fault in self._faults:
                if not (fault.active(rel) and fault.matches(endpoint, pair)):
                    continue
                if fault.max_hits is not None and fault.hits >= fault.max_hits:
                    continue
                fault.seen += 1
                if fault.every_n is not None and fault.seen % fault.every_n:
                    continue
                if fault.probability is not None and fault.rng.random() >= fault.probability:
                    continue
                if fault.kind in ("timeout", "http_5xx", "rate_limit_429"):
                    if terminal is not None:
                        continue  # the first terminal fault wins; later ones stay unfired
                    terminal = fault
                elif fault.kind == "latency":
                    latency += fault.ms / 1000.0
                elif fault.kind == "malformed_json":
                    malformed = True
                elif fault.kind == "missing_volume":
                    key = fault.pair
                    missing[key] = tuple(dict.fromkeys(missing.get(key, ()) + fault.fields))
                elif fault.kind == "stale_candles":
                    stale = fault.start_s if stale is None else min(stale, fault.start_s)
                elif fault.kind == "partial_fill":
                    partial = fault.fraction if partial is None else min(partial, fault.fraction)
                elif fault.kind == "fill_on_cancel":
                    fill_first = fault.fraction if fill_first is None else max(fill_first,
                                                                               fault.fraction)
                fault.hits += 1
                ids.append(fault.id)
        return Fired(latency, terminal, malformed, missing, stale, tuple(ids), partial,
                     fill_first)
