"""Cost of the start-up hook on a Python start that never imports freqtrade.

Figures, median of RUNS starts, measured in the same run:
1. the import cost of `trader247_hook` as reported by `python -X importtime` (goal < 1 ms);
2. the wall-clock of `python -c pass` in the venv (hook active) against `python -I -S -c pass`
   (no site processing at all), to put the hook's share in proportion.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

import _smoke

RUNS = 30


def importtime_us(runs: int) -> float:
    samples = []
    for _ in range(runs):
        stderr = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "pass"],
            capture_output=True, text=True, check=True,
        ).stderr
        total = 0
        for line in stderr.splitlines():
            if line.rstrip().endswith(" trader247_hook"):
                # "import time: self [us] | cumulative | name": sum the self times.
                total += int(line.split("|")[0].split(":")[1])
        samples.append(total)
    return statistics.median(samples)


def wall_ms(args: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, *args, "-c", "pass"], check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def install_call_us() -> float:
    import trader247_hook as _startup

    finders = [f for f in sys.meta_path if getattr(f, "trader247_hook", False)]
    for finder in finders:
        sys.meta_path.remove(finder)
    start = time.perf_counter()
    _startup.install()
    elapsed = (time.perf_counter() - start) * 1e6
    return elapsed


def precompile() -> None:
    """pip byte-compiles a normal install; an editable one (or PYTHONDONTWRITEBYTECODE) does not,
    which would bill the hook for compiling itself on every start."""
    import py_compile

    import trader247_hook

    py_compile.compile(trader247_hook.__file__, cfile=None, doraise=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    _smoke.add_flag(parser)
    args = parser.parse_args()
    runs = 2 if args.smoke else RUNS
    precompile()
    hook_import = importtime_us(runs)
    with_site = wall_ms([], runs)
    bare = wall_ms(["-I", "-S"], runs)
    print(f"trader247 start-up hook, median of {runs} runs")
    print(f"  import of trader247_hook (self time)   : {hook_import / 1000:.3f} ms  (goal < 1 ms)")
    print(f"  install() call:                           {install_call_us():.1f} us")
    print(f"  python -c pass (venv, hook active):       {with_site:.1f} ms")
    print(f"  python -I -S -c pass (no site at all):    {bare:.1f} ms")
    print(f"  hook share of a venv start:               {hook_import / 1000 / with_site:.1%}")
    import trader247_hook

    watched = sorted(trader247_hook.WATCHED)
    print(f"  freqtrade modules the hook acts on:       {len(watched)} ({', '.join(watched)}); "
          "the version of 'freqtrade' is only read")
    return _smoke.exit_code(args.smoke, hook_import < 1000)


if __name__ == "__main__":
    sys.exit(main())
