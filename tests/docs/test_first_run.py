"""A fresh shell can follow the README: what ``make run`` starts prints the lines another shell
needs (the venv's activate script, then the exports), and those lines alone give that shell the
``mockserver`` command and a ``python`` whose SDK reaches the server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.docs.markdown import ROOT

VENV_BIN = Path(sys.prefix) / "bin"


def test_make_run_serves_from_the_venv_with_the_cli_default_port() -> None:
    dry = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert ".venv/bin/mockserver serve --port 8787" in dry.splitlines()


def test_the_printed_lines_are_enough_for_another_shell(tmp_path: Path) -> None:
    shell_env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}  # a fresh shell: no venv
    server = subprocess.Popen(
        [str(VENV_BIN / "mockserver"), "serve", "--port", "0", "--data-dir", ":memory:"],
        cwd=ROOT, env={**shell_env, "PATH": os.environ["PATH"]}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert server.stdout is not None
        printed: list[str] = []
        for line in server.stdout:
            printed.append(line.rstrip("\n"))
            if line.startswith("export ANTHROPIC_API_KEY="):
                break
        activate = [line for line in printed if line.startswith(". ")]
        expected = os.path.relpath(VENV_BIN / "activate", ROOT)
        assert activate and activate[0].split()[1] == expected, printed
        script = "\n".join(activate + [line for line in printed if line.startswith("export ")]) + (
            "\ncommand -v mockserver"
            "\npython -c 'import anthropic; print(anthropic.Anthropic().messages.create(model=\"claude-haiku-4-5\","
            " max_tokens=20, messages=[{\"role\": \"user\", \"content\": \"Hi\"}]).content[0].text)'\n"
        )
        done = subprocess.run(["bash", "-c", "set -e\n" + script], cwd=ROOT, env=shell_env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        cli, reply = done.stdout.splitlines()[:2]
        assert Path(cli) == VENV_BIN / "mockserver" and reply.startswith('You said: "Hi"')
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_no_hint_inside_an_activated_venv() -> None:
    env = {**os.environ, "VIRTUAL_ENV": sys.prefix}
    server = subprocess.Popen(
        [str(VENV_BIN / "mockserver"), "serve", "--port", "0", "--data-dir", ":memory:"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert server.stdout is not None
        printed = []
        for line in server.stdout:
            printed.append(line)
            if line.startswith("export ANTHROPIC_API_KEY="):
                break
        assert not any(line.startswith(". ") for line in printed), printed
    finally:
        server.terminate()
        server.wait(timeout=10)
