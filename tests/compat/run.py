"""Run tests/compat with an older SDK (its own venv) against a mockserver from this venv.

    .venv/bin/python -m tests.compat.run --python .venv-compat/bin/python
    .venv/bin/python -m tests.compat.run --python .venv-legacy/bin/python --tests tests/legacy --serve-arg=--any-model
"""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

from tests.process_support import free_port, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--python", required=True, help="interpreter of the venv holding the older SDK and pytest")
    parser.add_argument("--tests", default=None, help="the test folder (default: tests/compat)")
    parser.add_argument("--serve-arg", action="append", default=[], help="an option for `mockserver serve` (repeatable)")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    python = str(Path(args.python).absolute())

    port = free_port()
    server = serve(port, "--quiet", *args.serve_arg)
    try:
        version = subprocess.run(
            [python, "-c", "import anthropic; print(anthropic.__version__)"], capture_output=True, text=True, check=True
        ).stdout.strip()
        print(f"compat: anthropic {version} against mockserver on port {port}", flush=True)
        env = {**os.environ, "MOCKSERVER_URL": f"http://127.0.0.1:{port}"}
        # Run from tests/compat with its own (empty) config: the project root would put this
        # checkout's metadata, and with it mockserver's pytest plugin, on the older venv's path.
        here = Path(args.tests).resolve() if args.tests else Path(__file__).resolve().parent
        command = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", os.devnull, "-o", "asyncio_default_fixture_loop_scope=function", "--rootdir", str(here), "--confcutdir", str(here), str(here), *args.pytest_args]
        return subprocess.run(command, cwd=here, env=env).returncode
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
