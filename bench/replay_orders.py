"""Orders per second the replay exchange sustains, and create / cancel latency.

Three client processes -- three bots -- each with its own API key on ONE account, use the real
ccxt ``coinbase`` class (ES256 JWT per request) against a replay subprocess: every iteration
creates a resting limit buy (half the best bid, 0.001 BTC) and cancels it. Goal: >= 50 created
orders/s on the 2-core machine, clients and server included.

The reference measured in the same run is the stock part of the path: the same three clients
calling a public endpoint (``fetch_ticker``: no JWT, no matching). There is no stock freqtrade
equivalent of an exchange; the ratio shows what authentication + order handling cost on top of
a plain ccxt round trip.

Other work on the machine slows the clients and the server alike, so the script also reports
the CPU time the server process and the clients spend per order (from ``/proc`` and
``time.process_time``): ``2000 ms / (server + client CPU ms per order)`` is what two idle
cores would sustain, whatever the load was during the run.

``--server asgi`` serves the same ``ReplayExchange`` with uvicorn + a minimal ASGI adapter
(freqtrade installs both) instead of the stdlib ``ThreadingHTTPServer``: the measurement behind
the replay README's choice of HTTP layer.

Run: ``.venv/bin/python bench/replay_orders.py [--seconds 10] [--server stdlib|asgi]``
(``make bench``; needs ``make data``). ``--smoke``: half a second each (``bench/_smoke.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import _smoke

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "user_data" / "data" / "coinbase"
CLIENTS = 3


def serve_asgi(data_dir: str, keys: str, port: int) -> None:
    """The replay behind uvicorn: one ASGI callable around ``ReplayExchange.handle``."""
    import asyncio

    import uvicorn

    from trader247.replay.api import ReplayExchange
    from trader247.replay.auth import load_keys
    from trader247.replay.feed import load_feed

    exchange = ReplayExchange(load_feed(data_dir), keys=load_keys(keys))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        target = scope["path"] + (("?" + scope["query_string"].decode())
                                  if scope["query_string"] else "")
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        response = exchange.handle(scope["method"], target, body, headers)
        if response.delay_s + response.hang_s:
            await asyncio.sleep(response.delay_s + response.hang_s)
        await send({"type": "http.response.start", "status": response.status, "headers": [
            (b"content-type", response.content_type.encode()),
            *[(k.encode(), v.encode()) for k, v in response.headers.items()]]})
        await send({"type": "http.response.body", "body": response.body})

    print(f"replay exchange listening on http://127.0.0.1:{port}", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_server(kind: str, keys: Path, port: int) -> subprocess.Popen[str]:
    if kind == "asgi":
        command = [sys.executable, __file__, "--serve-asgi", str(port), "--keys-file", str(keys)]
    else:
        command = [sys.executable, "-m", "trader247.replay", "--data-dir", str(DATA),
                   "--port", str(port), "--keys", str(keys)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    if "listening on" not in process.stdout.readline():
        raise SystemExit("replay did not start")
    time.sleep(0.5 if kind == "asgi" else 0)  # uvicorn binds after the line
    return process


def client(url: str, config: str, seconds: float, mode: str, start: float,
           out: Any) -> None:
    import ccxt

    secret = json.loads(Path(config).read_text())["exchange"]
    cb = ccxt.coinbase({"apiKey": secret["key"], "secret": secret["secret"],
                        "enableRateLimit": False, "timeout": 10_000,
                        "urls": {"api": {"rest": url}}})
    cb.load_markets()
    price = round(cb.fetch_ticker("BTC/USD")["bid"] / 2, 2)
    while time.time() < start:
        time.sleep(0.01)
    creates: list[float] = []
    cancels: list[float] = []
    cpu = time.process_time()
    deadline = start + seconds
    # At least one round each: a client that loaded its markets late on a loaded machine (or in
    # a half-second smoke run) still measures something.
    while time.time() < deadline or not creates:
        t0 = time.perf_counter()
        if mode == "public":
            cb.fetch_ticker("BTC/USD")
            creates.append(time.perf_counter() - t0)
            continue
        order = cb.create_order("BTC/USD", "limit", "buy", 0.001, price)
        t1 = time.perf_counter()
        cb.cancel_order(order["id"], "BTC/USD")
        creates.append(t1 - t0)
        cancels.append(time.perf_counter() - t1)
    out.put((creates, cancels, time.process_time() - cpu))


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100.0  # utime + stime, clock ticks


def run(url: str, configs: list[str], seconds: float,
        mode: str) -> tuple[list[float], list[float], float]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    start = time.time() + 4.0  # every client loaded its markets before the clock starts
    procs = [ctx.Process(target=client, args=(url, c, seconds, mode, start, queue))
             for c in configs]
    for p in procs:
        p.start()
    results = [queue.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    return ([x for r in results for x in r[0]], [x for r in results for x in r[1]],
            sum(r[2] for r in results))


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 1 else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--server", choices=["stdlib", "asgi"], default="stdlib")
    parser.add_argument("--serve-asgi", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--keys-file", help=argparse.SUPPRESS)
    _smoke.add_flag(parser)
    args = parser.parse_args()
    if args.smoke:
        args.seconds = 0.5
    if args.serve_asgi:
        serve_asgi(str(DATA), args.keys_file, args.serve_asgi)
        return 0
    if not any(DATA.glob("*.feather")):
        print(f"no candles in {DATA}: run `make data`", file=sys.stderr)
        return 2
    from trader247.cli.processes import free_port, stop
    from trader247.replay.keys import ensure_keys

    with tempfile.TemporaryDirectory() as tmp:
        keys = ensure_keys(Path(tmp), {"bench": {"USD": Decimal("100000000")}}, CLIENTS)
        port = free_port()
        server = start_server(args.server, Path(tmp) / "keys.json", port)
        url = f"http://127.0.0.1:{port}"
        try:
            configs = [str(k.config) for k in keys]
            public, _, _ = run(url, configs, args.seconds, "public")
            before = cpu_seconds(server.pid)
            creates, cancels, client_cpu = run(url, configs, args.seconds, "orders")
            server_cpu = cpu_seconds(server.pid) - before
        finally:
            stop(server, grace=5.0)
    orders_per_s = len(creates) / args.seconds
    public_per_s = len(public) / args.seconds
    print(f"replay order bench ({args.server} HTTP server, {CLIENTS} ccxt clients on 3 keys of "
          f"one account, {args.seconds:g} s each)")
    print(f"  orders created/s      {orders_per_s:8.1f}   (goal >= 50; each also cancelled: "
          f"{2 * orders_per_s:.0f} private requests/s)")
    print(f"  create p50 / p95      {pct(creates, 50):6.1f} / {pct(creates, 95):6.1f} ms")
    print(f"  cancel p50 / p95      {pct(cancels, 50):6.1f} / {pct(cancels, 95):6.1f} ms")
    print(f"  reference: public fetch_ticker/s {public_per_s:8.1f}, p50 {pct(public, 50):.1f} ms")
    ratio = statistics.median(creates) / statistics.median(public)
    print(f"  ratio create p50 / public p50: {ratio:.2f}x")
    server_ms = server_cpu / len(creates) * 1000
    client_ms = client_cpu / len(creates) * 1000
    print(f"  CPU per order (create + cancel): server {server_ms:.2f} ms, clients "
          f"{client_ms:.2f} ms -> two idle cores: ~{2000 / (server_ms + client_ms):.0f} "
          f"orders/s; the server alone: ~{1000 / server_ms:.0f} orders/s per core")
    with contextlib.suppress(OSError):
        print(f"  load average during the run: {os.getloadavg()[0]:.1f}")
    return _smoke.exit_code(args.smoke, orders_per_s >= 50)


if __name__ == "__main__":
    sys.exit(main())
