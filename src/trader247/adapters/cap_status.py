"""The cap controller of this process, read by the ExposureCap protection and the metrics.

The strategy owns the controller (it sees every order); the protection is built separately by
freqtrade, so it finds the controller here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trader247.adapters.cap_controller import CapController

_controller: CapController | None = None


def publish(controller: CapController) -> None:
    global _controller
    _controller = controller


def current() -> CapController | None:
    return _controller
