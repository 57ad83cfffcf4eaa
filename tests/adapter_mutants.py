"""Plant realistic adapter bugs one at a time and show which tests catch each (issue [R] item 6).

Run: ``.venv/bin/python tests/adapter_mutants.py [pytest paths...]`` (default: tests/plugins and
tests/patches). Each mutant edits one source line, runs the tests, restores the file (also on
Ctrl-C) and prints the failing tests; a mutant that no test catches is listed as SURVIVED and the
exit code is 1. Not part of ``make test`` (it runs the suite once per mutant).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTANTS: dict[str, tuple[str, str, str]] = {
    "a: the snapshot counts exit orders as entry stake": (
        "src/trader247/adapters/cap_exposure.py",
        "for order in trade.open_orders if order.ft_order_side == trade.entry_side)",
        "for order in trade.open_orders)"),
    "b: the snapshot ignores the stake of open entry orders": (
        "src/trader247/adapters/cap_exposure.py",
        "return Position(trade.pair, filled, mark, open_entry_stake(trade))",
        "return Position(trade.pair, filled, mark, 0.0)"),
    "c: the execute_entry_gate patch discards the clamped stake": (
        "src/trader247/patches/execute_entry_gate.py",
        "            stake_amount = gate(pair, stake_amount)\n            if not stake_amount:",
        "            allowed = gate(pair, stake_amount)\n            if not allowed:"),
    "d: the EXPOSURE_OVER_CAP lock is never placed": (
        "src/trader247/adapters/cap_locks.py",
        '        PairLocks.lock_pair("*", self.locked_until, reason, now=now)\n',
        "\n"),
    "e: an open entry order counts only its remaining part": (
        "src/trader247/adapters/cap_exposure.py",
        "(float(order.safe_filled) + float(order.safe_remaining))",
        "float(order.safe_remaining)"),
}


def failing(paths: list[str]) -> list[str]:
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rf",
                          *paths], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    return [line.split(" ", 1)[1].split(" - ")[0] for line in run.stdout.splitlines()
            if line.startswith("FAILED ")]


def main() -> int:
    paths = sys.argv[1:] or ["tests/plugins", "tests/patches"]
    survived = []
    for name, (path, old, new) in MUTANTS.items():
        file = ROOT / path
        text = file.read_text()
        if text.count(old) != 1:
            print(f"== {name}: the line to mutate is not in {path} once: update this script")
            return 2
        file.write_text(text.replace(old, new))
        try:
            caught = failing(paths)
        finally:
            file.write_text(text)
        print(f"== {name}: {f'{len(caught)} failing test(s)' if caught else 'SURVIVED'}")
        print("".join(f"    {test}\n" for test in caught), end="")
        if not caught:
            survived.append(name)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
