"""The compat subset runs in its own venv per release: it uses the end-to-end fixtures as is."""

from tests.e2e.conftest import replay, replay_factory  # noqa: F401  (pytest fixtures)
