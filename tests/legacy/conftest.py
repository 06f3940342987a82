"""Tests with SDK 0.49 (the 0.x line): Text Completions, and the platform clients of that era,
which send the platforms' own ``anthropic_version`` values. Run by ``make legacy`` through
tests/compat/run.py against ``mockserver serve --any-model`` (the Claude 2 models that answer
Text Completions are retired); these files import only ``anthropic`` and ``pytest``."""

from __future__ import annotations

import os

import pytest

collect_ignore: list[str] = []


@pytest.fixture(scope="session")
def base_url() -> str:
    url = os.environ.get("MOCKSERVER_URL")
    if not url:
        pytest.skip("MOCKSERVER_URL is not set: run these through tests/compat/run.py (make legacy)")
    return url
