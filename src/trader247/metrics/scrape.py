"""Read a Prometheus text exposition into ``{series: value}`` (tests, E2E checks, debugging).

Keys are ``name`` or ``name{label="value",...}`` with labels sorted by name, the way the
exposition itself writes them, e.g. ``trader247_trims_total{outcome="filled"}``.
"""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

__all__ = ["parse_exposition", "scrape", "series_key"]


def series_key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    inner = ",".join(
        f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())
    )
    return f"{name}{{{inner}}}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def parse_exposition(text: str) -> dict[str, float]:
    """Every sample of a text exposition (0.0.4 format) keyed by :func:`series_key`."""
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[series_key(sample.name, dict(sample.labels))] = float(sample.value)
    return out


def scrape(url: str, *, timeout: float = 5.0) -> dict[str, float]:
    """GET ``url`` (an exporter's ``/metrics``) and parse it; network errors propagate."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"scrape needs an http(s) URL, got {url!r}")
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - http(s) only
        body: bytes = response.read()
    return parse_exposition(body.decode("utf-8"))
