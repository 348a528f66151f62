"""Journeys run against the local cloud: the synthesized CDK stack with the real function
binaries (tests/localcloud, docs/decisions/0800-local-cloud.md). Run with scripts/test-e2e.sh."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "localcloud"))

from localcloud.pytest_plugin import cloud  # noqa: E402,F401
