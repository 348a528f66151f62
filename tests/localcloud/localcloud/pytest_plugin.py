"""pytest fixtures: a session-scoped `cloud` (LocalCloud over the synthesized template).

The template is target/e2e/cdk.out/dd0c-staging.template.json (scripts/test-e2e.sh writes it),
or DD0C_E2E_TEMPLATE. Logs: target/e2e/logs/ or LOCALCLOUD_LOG_DIR (one file per function, moto.log, localcloud.log).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Iterator

import pytest

from .cloud import REPO, LocalCloud

E2E_DIR = REPO / "target" / "e2e"
DEFAULT_TEMPLATE = E2E_DIR / "cdk.out" / "dd0c-staging.template.json"


def template_path(env: str = "DD0C_E2E_TEMPLATE", default: Path = DEFAULT_TEMPLATE) -> Path:
    p = Path(os.environ.get(env) or default)
    if not p.exists():
        pytest.fail(f"{p} is missing: run scripts/test-e2e.sh (it synthesizes the CDK app first)", pytrace=False)
    return p


def _log_to_file() -> None:
    logs = Path(os.environ.get("LOCALCLOUD_LOG_DIR") or E2E_DIR / "logs")
    logs.mkdir(parents=True, exist_ok=True)
    lg = logging.getLogger("localcloud")
    if not any(isinstance(h, logging.FileHandler) for h in lg.handlers):
        h = logging.FileHandler(logs / "localcloud.log")
        h.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        lg.addHandler(h)
    lg.setLevel(logging.DEBUG)


@pytest.fixture(scope="session")
def cloud() -> Iterator[LocalCloud]:
    """The whole stack, started once per test session."""
    _log_to_file()
    c = LocalCloud(template_path()).start()
    try:
        yield c
    finally:
        c.close()
