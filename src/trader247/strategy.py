"""Public strategy helpers: ``from trader247.strategy import ExposureCapMixin``."""

from trader247.adapters.cap_mixin import ExposureCapMixin

__all__ = ["ExposureCapMixin"]
