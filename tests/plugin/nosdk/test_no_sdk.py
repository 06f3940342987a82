"""mockserver installed with no anthropic SDK (and so no pydantic): ``make nosdk`` builds
``.venv-nosdk`` with ``pip install . pytest`` — the package as a user gets it — and runs this
file there. The package imports, ``mockserver serve`` loads a scenario and answers, the plugin's
``mockserver`` fixture works, and the client fixtures say what to install."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.prefix) / "bin"
SCENARIO = """\
rules:
  - match: {text: weather}
    reply:
      content:
        - "Let me look."
        - tool_use: {name: get_weather, input: {city: Paris}}
        - thinking: "hm"
"""
HELLO = {"model": "claude-haiku-4-5", "max_tokens": 50, "messages": [{"role": "user", "content": "the weather?"}]}


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url + "/v1/messages", data=json.dumps(body).encode(), method="POST",
        headers={"content-type": "application/json", "x-api-key": "sk-ant-x", "anthropic-version": "2023-06-01"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.load(response))


def test_this_venv_has_no_sdk_and_the_installed_package() -> None:
    assert importlib.util.find_spec("anthropic") is None and importlib.util.find_spec("pydantic") is None
    import mockserver

    assert Path(mockserver.__file__).is_relative_to(sys.prefix), mockserver.__file__  # not the checkout
    assert (Path(mockserver.__file__).parent / "py.typed").exists()
    from importlib.metadata import distribution

    dist = distribution("claude-mockserver")
    assert dist.metadata["License-Expression"] == "MIT"
    assert not any(r.startswith("anthropic") and "extra" not in r for r in dist.requires or [])


def test_the_install_printed_no_deprecation_banner() -> None:
    log = (Path(sys.prefix) / "install.log").read_text(encoding="utf-8")  # written by `make nosdk`
    assert "Successfully installed" in log and "claude-mockserver" in log
    assert "deprecat" not in log.lower() and "license" not in log.lower(), log


def test_import_is_light_and_the_facade_is_complete() -> None:
    code = (
        "import sys, mockserver\n"
        "loaded = sorted(m for m in sys.modules if m.startswith(('aiohttp', 'yaml', 'mockserver.')))\n"
        "assert not loaded, loaded\n"
        "from mockserver import *\n"
        "assert Config().port == 0 and Config().data_dir == ':memory:'\n"
        "print(sorted(mockserver.__all__))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    names = set(eval(done.stdout))
    assert {"MockServer", "Config", "ManualClock", "reply", "error", "sequence", "fault", "stream", "json_body", "rule", "transport"} <= names


def test_serve_loads_a_scenario_and_answers(tmp_path: Path) -> None:
    scenario = tmp_path / "weather.yaml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    server = subprocess.Popen(
        [str(BIN / "mockserver"), "serve", "--port", "0", "--data-dir", ":memory:", "--scenario", str(scenario)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert server.stdout is not None
        url = ""
        for line in server.stdout:
            if line.startswith("export ANTHROPIC_BASE_URL="):
                url = line.split("=", 1)[1].strip()
                break
        assert url, "the server did not start"
        message = post(url, HELLO)
        assert [b["type"] for b in message["content"]] == ["text", "tool_use", "thinking"]
        assert message["stop_reason"] == "tool_use" and message["content"][1]["id"].startswith("toolu_")
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_refuses_a_bad_reply_naming_the_field(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("- reply: {content: [{text: hi, citations: [{type: char_location, cited_text: hi}]}]}\n", encoding="utf-8")
    done = subprocess.run(
        [str(BIN / "mockserver"), "serve", "--port", "0", "--data-dir", ":memory:", "--scenario", str(scenario)],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 2
    assert "rules[0]: reply.content[0]: not a valid reply for the SDK's Message type: Field required (at citations.0.document_index)" in done.stderr


def test_the_plugin_serves_without_an_sdk(mockserver: Any) -> None:
    mockserver.reply("Scripted, no SDK needed.")
    assert post(mockserver.url, HELLO)["content"] == [{"type": "text", "text": "Scripted, no SDK needed."}]
    assert mockserver.journal.last().status == 200


@pytest.mark.parametrize("fixture", ["anthropic_client", "cassette_client"])
def test_client_fixtures_say_what_to_install(request: pytest.FixtureRequest, fixture: str) -> None:
    with pytest.raises(ImportError, match=r"the anthropic SDK is not installed: `pip install anthropic`"):
        request.getfixturevalue(fixture)
