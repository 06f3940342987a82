"""Compatibility tests: an older SDK release line (which sends ``anthropic-version: 2023-06-01``)
against a mockserver started from this project's venv. Run by ``tests/compat/run.py``; these
files import only ``anthropic`` and ``pytest``: they test the server over HTTP (mockserver is
installed beside the older SDK too, for tests/plugin)."""

from __future__ import annotations

import os
from typing import Iterator

import anthropic
import pytest

collect_ignore = ["run.py"]


@pytest.fixture(scope="session")
def base_url() -> str:
    url = os.environ.get("MOCKSERVER_URL")
    if not url:
        pytest.skip("MOCKSERVER_URL is not set: run these through tests/compat/run.py")
    return url


@pytest.fixture
def client(base_url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=base_url, api_key="sk-ant-compat", _strict_response_validation=True, max_retries=0) as c:
        yield c

