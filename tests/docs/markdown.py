"""The fenced code blocks of README.md and docs/*.md, with the directive that says how to run one.

A directive is an HTML comment on the line right above the fence (invisible on GitHub)::

    <!-- doc-test: skip="output sample" -->
    <!-- doc-test: module=retry asyncio aiohttp fails="could not convert" record expect="Third time" -->

``skip=REASON`` marks a block that is not run, and says why. Without one, a block runs by its
language (tests/docs/test_examples.py); ``module=NAME[,NAME…]`` joins the python blocks of one
file that carry it, in order, into one test module; ``KEY@NAME=VALUE`` is an option of module
NAME only.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```([\w-]*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*doc-test:(.*?)-->\s*$")


@dataclass
class Block:
    file: str  # relative to the repository
    line: int  # of the opening fence
    lang: str
    text: str
    options: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"


def parse(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].rstrip() == "```")
        options: dict[str, str] = {}
        directive = _DIRECTIVE.match(lines[i - 1]) if i else None
        if directive:
            for word in shlex.split(directive.group(1)):
                key, _, value = word.partition("=")
                options[key] = value
        blocks.append(Block(str(path.relative_to(ROOT)), i + 1, fence.group(1), "\n".join(lines[i + 1:end]) + "\n", options))
        i = end + 1
    return blocks


def all_blocks() -> list[Block]:
    return [block for path in FILES for block in parse(path)]


@dataclass
class Unit:
    """What one test runs: a block, or the python blocks of one ``module=``."""

    blocks: list[Block]
    module: str = ""

    @property
    def id(self) -> str:
        return self.blocks[0].id + (f"+{len(self.blocks) - 1}" if len(self.blocks) > 1 else "")

    @property
    def lang(self) -> str:
        return self.blocks[0].lang

    @property
    def text(self) -> str:
        return "\n\n".join(block.text for block in self.blocks)

    @property
    def options(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for block in self.blocks:
            for key, value in block.options.items():
                name, _, module = key.partition("@")  # ``fails@buggy=…``: for that module only
                if not module or module == self.module:
                    merged[name] = value
        return merged


def units() -> list[Unit]:
    out: list[Unit] = []
    modules: dict[tuple[str, str], Unit] = {}
    for block in all_blocks():
        if "skip" in block.options:
            continue
        names = [n for n in block.options.get("module", "").split(",") if n]
        if not names:
            out.append(Unit([block]))
        for name in names:  # a block may belong to several modules (shared imports, a fixture)
            key = (block.file, name)
            if key not in modules:
                modules[key] = Unit([], name)
                out.append(modules[key])
            modules[key].blocks.append(block)
    return out
