"""Config parsing cost of hostile YAML (moved here from a wall-clock assert in a unit test).

``trader247.configfiles.parse_policy`` refuses YAML nested more than 64 levels deep with a
file:line error. This measures what refusing a 3000-deep bracket bomb costs against PyYAML's
own ``yaml.safe_load`` of the same text in the same run (which ends in a ``RecursionError``):
ours must not cost more (goal: ratio <= 1.0x), and the shipped policy.yaml for scale.

Run: ``.venv/bin/python bench/config_parse.py`` (``make bench``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

import _smoke
from trader247.configfiles import ConfigFileError, parse_policy

REPO = Path(__file__).resolve().parents[1]
REPEATS = 5


def best_ms(function: Callable[[], object], repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        runs.append((time.perf_counter() - start) * 1000)
    return min(runs)


BOMB = "risk: " + "[" * 3000


def refuse_bomb() -> None:
    try:
        parse_policy(BOMB.encode())
    except ConfigFileError:
        return
    raise AssertionError("the bracket bomb was accepted")


def stock_bomb() -> None:
    try:
        yaml.safe_load(BOMB)
    except RecursionError:
        return
    raise AssertionError("PyYAML accepted the bracket bomb")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    _smoke.add_flag(parser)
    args = parser.parse_args()
    repeats = 1 if args.smoke else REPEATS
    shipped = (REPO / "config" / "policy.yaml").read_bytes()
    stock = best_ms(lambda: yaml.safe_load(shipped), repeats)
    ours = best_ms(lambda: parse_policy(shipped), repeats)
    bomb = best_ms(refuse_bomb, repeats)
    stock_bomb_ms = best_ms(stock_bomb, repeats)
    print(f"yaml.safe_load(policy.yaml):       {stock:7.2f} ms")
    print(f"parse_policy(policy.yaml):         {ours:7.2f} ms ({ours / stock:.2f}x)")
    print(f"yaml.safe_load(3000-deep bomb):    {stock_bomb_ms:7.2f} ms (RecursionError)")
    print(f"parse_policy(3000-deep bomb):      {bomb:7.2f} ms ({bomb / stock_bomb_ms:.2f}x, "
          "a file:line error)")
    ok = bomb <= stock_bomb_ms
    print(f"goal: refusing the bomb costs <= PyYAML's own attempt: {'OK' if ok else 'MISSED'}")
    return _smoke.exit_code(args.smoke, ok)


if __name__ == "__main__":
    sys.exit(main())
