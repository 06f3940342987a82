"""The README's Bedrock and Vertex examples, run as written: each ``python`` block of the section
"Bedrock, Vertex and other platforms" defines a test taking the plugin's ``mockserver``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mockserver.harness.testing import MockServer

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Bedrock, Vertex and other platforms", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.DOTALL)


def test_the_section_has_both_examples() -> None:
    blocks = _blocks()
    assert len(blocks) == 2 and "AnthropicBedrock(" in blocks[0] and "AnthropicVertex(" in blocks[1]


@pytest.mark.parametrize("index", [0, 1], ids=["bedrock", "vertex"])
def test_readme_example(index: int, mockserver: MockServer) -> None:
    namespace: dict[str, Any] = {}
    exec(compile(_blocks()[index], f"README.md example {index + 1}", "exec"), namespace)
    tests = [fn for name, fn in namespace.items() if name.startswith("test_") and callable(fn)]
    assert len(tests) == 1
    tests[0](mockserver)
