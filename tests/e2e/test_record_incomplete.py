"""A recording with holes says so at the end: every exchange the recorder answered but did not
record (over RECORD_LIMIT, cut short by the client or the upstream, upstream unreachable) is
counted by why, named in the last lines of ``mockserver record`` and in its exit status (1), and
errors the pytest test whose cassette it is. Clients here are the SDK; the upstream is a local app."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Iterator

import anthropic
import mockserver
import orjson
import pytest
from aiohttp import web

from mockserver.cassettes import format as fmt
from mockserver.cassettes.record import RECORD_LIMIT
from tests.cassette_support import HAIKU, AppThread, hello

KEY = "sk-ant-api03-incomplete-test"


def _event(data: dict[str, Any]) -> bytes:
    return b"event: " + str(data["type"]).encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


START = _event({"type": "message_start", "message": {"id": "msg_01Holes", "type": "message", "role": "assistant", "model": HAIKU,
                                                      "content": [], "stop_reason": None, "stop_sequence": None,
                                                      "usage": {"input_tokens": 5, "output_tokens": 1}}})
END = _event({"type": "message_stop"})


async def _messages(request: web.Request) -> web.StreamResponse:
    """By the prompt: ``small`` a JSON Message; ``huge`` a stream past RECORD_LIMIT; ``hang`` one
    event, then silence until the recorder hangs up; ``broken`` one event, then the connection cut."""
    prompt = orjson.loads(await request.read())["messages"][0]["content"]
    if prompt == "small":
        return web.json_response({"id": "msg_01Small", "type": "message", "role": "assistant", "model": HAIKU,
                                  "content": [{"type": "text", "text": "small"}], "stop_reason": "end_turn",
                                  "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 1}})
    response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
    await response.prepare(request)
    await response.write(START)
    if prompt == "huge":
        delta = _event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x" * 65536}})
        for _ in range(RECORD_LIMIT // len(delta) + 16):
            await response.write(delta)
        await response.write(END)
        await response.write_eof()
    elif prompt == "broken":
        assert request.transport is not None
        request.transport.abort()
    else:  # hang
        while request.transport is not None and not request.transport.is_closing():
            await asyncio.sleep(0.01)
    return response


@pytest.fixture
def origin() -> Iterator[str]:
    app = web.Application()
    app.router.add_post("/v1/messages", _messages)
    with AppThread(app) as thread:
        yield thread.url


def _start_recorder(cassette: Path, upstream: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mockserver", "record", "--cassette", str(cassette), "--upstream", upstream,
         "--record-mode", "all", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("export ANTHROPIC_BASE_URL="):
            return proc, line.strip().split("=", 1)[1]
    proc.kill()
    raise AssertionError("the recorder printed no export line")


def test_mockserver_record_names_what_it_did_not_record_and_exits_1(tmp_path: Path, origin: str) -> None:
    cassette = tmp_path / "holes.yaml"
    proc, url = _start_recorder(cassette, origin)
    try:
        with anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0) as client:
            assert client.messages.create(**hello("small")).content[0].text == "small"
            with client.messages.with_streaming_response.create(**hello("huge", stream=True)) as response:
                received = sum(len(chunk) for chunk in response.iter_bytes())
            assert received > RECORD_LIMIT  # the client got all of it
            with client.messages.with_streaming_response.create(**hello("hang", stream=True)) as response:
                assert next(response.iter_bytes()).startswith(b"event: message_start")
            # ...and hung up there
            with client.messages.with_streaming_response.create(**hello("broken", stream=True)) as response:
                assert response.read().startswith(b"event: message_start")
            with client.messages.with_streaming_response.create(**hello("hang", stream=True)) as response:
                next(response.iter_bytes())
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 1, out
    assert f"1 new interaction(s) saved to {cassette}" in out, out
    assert (f"mockserver: INCOMPLETE: 4 exchange(s) answered while recording are NOT in {cassette}, so replaying them will miss: "
            f"1 over the {RECORD_LIMIT} bytes the recorder holds of one answer (RECORD_LIMIT): relayed whole, not recorded "
            "(the first: POST /v1/messages); "
            "2 cut short: the client went away before the answer ended (the first: POST /v1/messages); "
            "1 cut short: the upstream's answer broke off (the first: POST /v1/messages)") in out, out
    (kept,) = fmt.load(cassette)
    assert orjson.loads(kept.request.body)["messages"][0]["content"] == "small"


def test_an_unreachable_upstream_is_counted_too(tmp_path: Path) -> None:
    cassette = tmp_path / "nowhere.yaml"
    proc, url = _start_recorder(cassette, "http://127.0.0.1:9")  # the discard port: nothing listens
    try:
        with anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0) as client:
            with pytest.raises(anthropic.InternalServerError):
                client.messages.create(**hello("small"))
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 1, out
    assert "saved" not in out and "INCOMPLETE: 1 exchange(s)" in out, out
    assert "1 not answered: the upstream could not be reached (the client got a 502) (the first: POST /v1/messages)" in out, out


def test_a_recording_with_nothing_missing_still_exits_0(tmp_path: Path, origin: str) -> None:
    cassette = tmp_path / "whole.yaml"
    proc, url = _start_recorder(cassette, origin)
    try:
        with anthropic.Anthropic(base_url=url, api_key=KEY, max_retries=0) as client:
            client.messages.create(**hello("small"))
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0 and "INCOMPLETE" not in out, out


USER_TESTS = '''
import anthropic

HI = {"model": "claude-haiku-4-5", "max_tokens": 50}


def test_whole(cassette_client):
    assert cassette_client.messages.create(**HI, messages=[{"role": "user", "content": "small"}]).content[0].text == "small"


def test_hangs_up(cassette_client):
    with cassette_client.messages.with_streaming_response.create(
        **HI, stream=True, messages=[{"role": "user", "content": "hang"}]
    ) as response:
        assert next(response.iter_bytes()).startswith(b"event: message_start")
'''


def test_the_pytest_plugin_errors_the_test_whose_recording_has_a_hole(tmp_path: Path, origin: str) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "MOCKSERVER_", "PYTEST_"))}
    env["PYTHONPATH"] = str(Path(mockserver.__file__).parents[1])  # this checkout's plugin, whatever is installed
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "test_user.py",
         "--record-mode=all", f"--record-upstream={origin}"],
        cwd=tmp_path, capture_output=True, text=True, env={**env, "ANTHROPIC_API_KEY": KEY}, timeout=120,
    )
    out = run.stdout + run.stderr
    assert run.returncode == 1, out
    assert "2 passed, 1 error" in out, out
    assert "ERROR at teardown of test_hangs_up" in out, out
    path = tmp_path / "cassettes" / "test_user" / "test_hangs_up.yaml"
    assert (f"mockserver: this test's recording is incomplete: INCOMPLETE: 1 exchange(s) answered while recording are NOT in "
            f"{path}, so replaying them will miss: 1 cut short: the client went away before the answer ended "
            "(the first: POST /v1/messages)") in out, out
    assert fmt.load(tmp_path / "cassettes" / "test_user" / "test_whole.yaml")
