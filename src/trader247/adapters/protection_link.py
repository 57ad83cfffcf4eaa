"""The ``ExposureCap`` protection finds its strategy's cap controller in its own config entry.

Freqtrade builds protections from the strategy's ``protections`` list without handing them the
strategy. ``ExposureCapMixin`` therefore returns each ``{"method": "ExposureCap"}`` entry with
its controller added under :data:`CONTROLLER_KEY`; the protection reads it from its
``protection_config``. No process-wide state: two strategies in one process (``--strategy-list``)
each link their own controller.

A strategy that declares the protection without the mixin has nothing that measures exposure:
before, the protection silently never locked. Now its constructor raises
:class:`~freqtrade.exceptions.OperationalException` with :func:`missing_mixin_message`, so
``freqtrade trade`` (and ``backtesting --enable-protections``) stop at start-up with exit code 2.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from trader247.core.plugin_names import PROTECTION

if TYPE_CHECKING:
    from trader247.adapters.cap_controller import CapController

CONTROLLER_KEY = "_trader247_cap_controller"


def link(declared: Any, controller: CapController) -> list[Any]:
    """``declared`` with every ExposureCap entry copied and linked to ``controller``."""
    return [
        {**entry, CONTROLLER_KEY: controller}
        if isinstance(entry, Mapping) and entry.get("method") == PROTECTION else entry
        for entry in (declared or [])
    ]


def linked_controller(protection_config: Mapping[str, Any]) -> CapController | None:
    controller: CapController | None = protection_config.get(CONTROLLER_KEY)
    return controller


def linking(getter: Callable[[Any], Any]) -> property:
    """A ``protections`` property returning ``getter(strategy)`` linked to the strategy's cap
    (for a strategy class that defines ``protections`` itself, as a property or a list)."""

    def protections(self: Any) -> list[Any]:
        return link(getter(self), self.cap)

    return property(protections)


def missing_mixin_message(strategy: str | None) -> str:
    name = strategy or "the strategy"
    return (
        f"{PROTECTION}: strategy {name} declares the {PROTECTION} protection but does not "
        f"inherit ExposureCapMixin, so nothing would measure exposure and the at-risk cap would "
        f"never be enforced. Fix: `from trader247.strategy import ExposureCapMixin` and declare "
        f"`class {strategy or 'MyStrategy'}(ExposureCapMixin, <its base>)` (the mixin first), "
        f"or remove {PROTECTION} from its `protections`."
    )
