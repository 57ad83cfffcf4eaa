"""``python -m trader247.datagen``: write the bundled candle set (idempotent, seeded).

Exit status 0 on success (including "already up to date"), 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from trader247.datagen.catalog import pairs
from trader247.datagen.settings import (
    DEFAULT_REAL_DIR,
    DEFAULT_SEED,
    TIMEFRAMES,
    DataGenError,
    Settings,
    Summary,
    read_manifest,
    up_to_date,
)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m trader247.datagen",
        description="Write the bundled Coinbase candle set (real + seeded synthetic pairs) in "
                    "freqtrade's feather format. Skips quickly when the output already matches.",
    )
    p.add_argument("--out", type=Path, default=Path("user_data/data/coinbase"),
                   help="output directory (default: %(default)s)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default: 247)")
    p.add_argument("--variant", choices=("real", "synthetic"), default="real",
                   help="real: the four real pairs are the real candles; synthetic: they are "
                        "generated too, with the same statistics (out-of-sample checks; write "
                        "to another --out)")
    p.add_argument("--timeframes", nargs="+", choices=TIMEFRAMES, default=list(TIMEFRAMES),
                   help="timeframes to write (default: %(default)s)")
    p.add_argument("--pairs", nargs="+", metavar="PAIR",
                   help="subset of the catalog (BTC/USD or BTC-USD); default: all "
                        f"{len(pairs())} pairs")
    p.add_argument("--real-dir", type=Path, default=DEFAULT_REAL_DIR,
                   help="directory with the real {BTC,ETH,SOL,ADA}_USD-{1h,15m}.feather "
                        "(default: the project's data/real/coinbase)")
    p.add_argument("--force", action="store_true", help="regenerate even if up to date")
    return p


def _skip(settings: Settings, out: Path) -> Summary | None:
    started = time.perf_counter()
    total = up_to_date(settings, out)
    manifest = read_manifest(out)
    if total is None or manifest is None:
        return None
    return Summary(len(manifest["files"]), total, time.perf_counter() - started, True, out)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings(
            seed=args.seed,
            variant=args.variant,
            real_dir=args.real_dir,
            pairs=tuple(args.pairs) if args.pairs else None,
            timeframes=tuple(dict.fromkeys(args.timeframes)),
        )
        summary = _skip(settings, args.out) if not args.force else None
        if summary is None:
            # Imported only when there is work: pandas/pyarrow take a second or two to load.
            from trader247.datagen.generate import write_dataset

            summary = write_dataset(settings, args.out, force=args.force)
    except DataGenError as exc:
        print(f"datagen: error: {exc}", file=sys.stderr)
        return 2
    print(summary.line(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
