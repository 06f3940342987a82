"""What a namespace leaves behind in the server once it is done with."""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict, MultiDictProxy

from mockserver.config import Config
from mockserver.pipeline.parse import Incoming
from mockserver.render.deliver import deliver
from mockserver.root import Api

# -- through the composition root: what a request in a new namespace leaves behind -----------------
BODY = orjson.dumps({"model": "claude-haiku-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hi"}]})


class _Sink:
    closed = False

    async def whole(self, plan: Any, body: bytes) -> None:
        pass

    async def start(self, plan: Any) -> None:
        pass

    async def write(self, data: bytes) -> None:
        pass

    def abort(self, rst: bool = False) -> None:
        pass


async def call(api: Api, namespace: str) -> None:
    headers = CIMultiDictProxy(CIMultiDict({"x-api-key": "sk-ant-test", "anthropic-version": "2023-06-01",
                                            "content-type": "application/json", "x-mock-namespace": namespace}))

    async def read(limit: int) -> bytes:
        return BODY

    incoming = Incoming("POST", "/v1/messages", "/v1/messages", MultiDictProxy(MultiDict()), headers, read, True)
    exchange = await api.handle(incoming)
    await api.finish(exchange, await deliver(exchange.plan, _Sink()))  # type: ignore[arg-type]


def growth_per_namespace(config: Config, *, reset: bool, count: int = 3000) -> float:
    async def run() -> float:
        api = Api(config)
        await api.start()
        tracemalloc.start()  # first: what the namespaces held at the start hold is counted when it goes
        for n in range(300):  # past the limit, and every lazily made structure made
            await call(api, f"warm-{n}")
            if reset:
                await api.reset(f"warm-{n}")
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for n in range(count):
            await call(api, f"ns-{n}")
            if reset:
                await api.reset(f"ns-{n}")
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        await api.stop()
        return grown / count

    return asyncio.run(run())


RULES = "rules:\n  - name: catch\n    times: 100000\n    reply: hello there\n"


@pytest.mark.parametrize("with_rules", [False, True], ids=["no-rules", "file-rules"])
def test_a_namespace_reset_when_its_test_ends_leaves_nothing_behind(tmp_path: Path, with_rules: bool) -> None:
    # the pytest plugin's case: each test's namespace is reset at teardown
    files = ()
    if with_rules:
        (tmp_path / "rules.yaml").write_text(RULES)
        files = (tmp_path / "rules.yaml",)
    per_namespace = growth_per_namespace(Config(log_requests=False, seed=1, scenario_files=files), reset=True)
    assert per_namespace < 50, per_namespace  # was ~230 B (~830 B with a scenario file): the book's copies

