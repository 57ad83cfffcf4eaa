"""Prometheus metrics of the bot: :func:`get_metrics` to update, :func:`start` to serve."""

from trader247.metrics.exporter import (
    Metrics,
    exchange_endpoint,
    get_metrics,
    order_failure_reason,
    should_start,
    start,
    stop,
)
from trader247.metrics.scrape import parse_exposition, scrape

__all__ = [
    "Metrics",
    "exchange_endpoint",
    "get_metrics",
    "order_failure_reason",
    "parse_exposition",
    "scrape",
    "should_start",
    "start",
    "stop",
]
