"""Makes the `localcloud` package importable and provides the session-scoped `cloud` fixture to
tests under tests/localcloud/ (tests/e2e/conftest.py does the same for the journeys)."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from localcloud.pytest_plugin import cloud  # noqa: E402,F401
