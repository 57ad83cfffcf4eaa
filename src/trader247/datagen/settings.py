"""What to generate, and whether an output directory already holds it.

Standard library only: ``make demo`` runs the generator every time, and the "already up to date"
answer must not pay for importing pandas/pyarrow (over a second on a small machine).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal

from trader247.datagen.catalog import (
    FINE_DAYS,
    FINE_TIMEFRAME,
    RANGE_END,
    RANGE_START,
    REAL_TIMEFRAMES,
    Pair,
    by_pair,
    resolve_pairs,
)

__all__ = [
    "DEFAULT_REAL_DIR",
    "DEFAULT_SEED",
    "GENERATOR_VERSION",
    "HOUR_MS",
    "MANIFEST",
    "MINUTE_MS",
    "TIMEFRAMES",
    "DataGenError",
    "Settings",
    "Summary",
    "Variant",
    "manifest_key",
    "read_manifest",
    "up_to_date",
]

Variant = Literal["real", "synthetic"]

# Bump whenever the output for a given seed changes: the manifest check keys on it.
GENERATOR_VERSION: Final = "2"  # 2: 24h USD volume = volume_24h x price (Coinbase)
DEFAULT_SEED: Final = 247
TIMEFRAMES: Final = ("1h", FINE_TIMEFRAME)
MANIFEST: Final = ".datagen.json"
# src/trader247/datagen/settings.py -> repository root. A wheel install has no data/ directory:
# pass --real-dir (or use --variant synthetic) there.
DEFAULT_REAL_DIR: Final = Path(__file__).resolve().parents[3] / "data" / "real" / "coinbase"

HOUR_MS: Final = 3_600_000
MINUTE_MS: Final = 60_000


class DataGenError(Exception):
    """Bad input (missing real data, unknown pair/timeframe): the CLI prints it and exits 2."""


@dataclass(frozen=True)
class Settings:
    """What to generate. ``start``/``end`` are open times of the first/last 1h candle; tests
    shorten the range, the CLI always uses the real candles' range."""

    seed: int = DEFAULT_SEED
    variant: Variant = "real"
    start: datetime = RANGE_START
    end: datetime = RANGE_END
    fine_days: int = FINE_DAYS
    real_dir: Path = DEFAULT_REAL_DIR
    pairs: tuple[str, ...] | None = None
    timeframes: tuple[str, ...] = TIMEFRAMES

    def __post_init__(self) -> None:
        unknown = sorted(set(self.timeframes) - set(TIMEFRAMES))
        if unknown:
            raise DataGenError(f"unknown timeframe(s) {unknown}: choose from {list(TIMEFRAMES)}")
        if self.variant not in ("real", "synthetic"):
            raise DataGenError(f"unknown variant {self.variant!r}: choose real or synthetic")
        for moment in (self.start, self.end):
            if moment.tzinfo is None or moment.timestamp() % 3600:
                raise DataGenError(f"{moment}: start/end must be tz-aware whole hours")
        if (self.end - self.start) < timedelta(days=7):
            raise DataGenError("the range must span at least 7 days (room for the crash regime)")
        if not 1 <= self.fine_days <= (self.end - self.start).days:
            raise DataGenError(f"fine_days={self.fine_days} outside the 1h range")
        if self.pairs is not None:
            try:
                resolve_pairs(self.pairs)
            except KeyError as exc:
                raise DataGenError(str(exc.args[0])) from None

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int(self.end.timestamp() * 1000)

    @property
    def hours(self) -> int:
        return (self.end_ms - self.start_ms) // HOUR_MS + 1

    @property
    def fine_first_ms(self) -> int:
        return self.end_ms + HOUR_MS - self.fine_days * 24 * HOUR_MS

    @property
    def fine_last_ms(self) -> int:
        return self.end_ms + HOUR_MS - 5 * MINUTE_MS

    def selected(self) -> tuple[Pair, ...]:
        return resolve_pairs(self.pairs)

    def is_real(self, pair: Pair) -> bool:
        """Served from the real candles (as opposed to generated in their place)."""
        return pair.source == "real" and self.variant == "real"

    def real_path(self, pair: Pair, timeframe: str) -> Path:
        path = self.real_dir / f"{pair.file_stem}-{timeframe}.feather"
        if not path.is_file():
            raise DataGenError(
                f"real candles missing: {path} (pass --real-dir with the real Coinbase "
                f"{'/'.join(REAL_TIMEFRAMES)} feather files, or use --variant synthetic)")
        return path

    def real_inputs(self) -> dict[str, str]:
        """sha256 of every real file this run reads, so replacing one forces a regeneration."""
        paths: dict[str, Path] = {}
        for pair in self.selected():
            for name in (pair.pair, *pair.parents):
                p = by_pair(name)
                if self.is_real(p):
                    for tf in REAL_TIMEFRAMES:
                        path = self.real_path(p, tf)
                        paths[path.name] = path
        return {name: hashlib.sha256(paths[name].read_bytes()).hexdigest()
                for name in sorted(paths)}


@dataclass(frozen=True)
class Summary:
    files: int
    total_bytes: int
    seconds: float
    skipped: bool
    out_dir: Path

    def line(self, s: Settings) -> str:
        what = "up to date, skipped" if self.skipped else "generated"
        return (f"datagen: {what}: {self.files} files, {self.total_bytes / 1e6:.1f} MB, "
                f"{self.seconds:.1f} s (seed {s.seed}, variant {s.variant}) -> {self.out_dir}")


def manifest_key(s: Settings) -> dict[str, Any]:
    """Everything the output depends on; equal keys mean identical files."""
    return {
        "version": GENERATOR_VERSION,
        "seed": s.seed,
        "variant": s.variant,
        "start": s.start.isoformat(),
        "end": s.end.isoformat(),
        "fine_days": s.fine_days,
        "pairs": [p.pair for p in s.selected()],
        "timeframes": sorted(s.timeframes),
        "real_inputs": s.real_inputs(),
    }


def read_manifest(out_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not (isinstance(data, dict) and isinstance(data.get("files"), dict)
            and isinstance(data.get("key"), dict)):
        return None
    return data


def up_to_date(s: Settings, out_dir: Path, key: dict[str, Any] | None = None) -> int | None:
    """Total bytes of the listed files when ``out_dir`` already holds exactly this data set
    (same key, every file present with its recorded size), else ``None``."""
    manifest = read_manifest(out_dir)
    if manifest is None or manifest["key"] != (key if key is not None else manifest_key(s)):
        return None
    total = 0
    for name, size in manifest["files"].items():
        path = out_dir / name
        if not path.is_file() or path.stat().st_size != size:
            return None
        total += size
    return total
