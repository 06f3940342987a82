"""Run the official SDK's own API tests against mockserver in lenient (contract) mode.

    .venv/bin/python -m tests.contract.run        # or: make contract

The tests come from the ``anthropic`` sdist on the package index (same version as installed
here); they run in their own virtualenv (``.venv-contract``, with the SDK's test dependencies)
against ``mockserver serve --lenient`` started from this project's venv, exactly as the SDK's
maintainers run them against their schema mock (``TEST_API_BASE_URL``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

from tests.process_support import free_port, serve

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "sdk-tests"
VENV = ROOT / ".venv-contract"
TEST_DEPS = [
    "pytest>=8",
    "pytest-asyncio",
    "pytest-xdist",
    "respx",
    "inline-snapshot>=0.28.0",
    "http-snapshot[httpx]==0.1.9",
    "dirty-equals>=0.6.0",
    "time-machine",
]
# The SDK's test files for the endpoints mockserver implements (issue: messages, models, batches).
TEST_FILES = [
    "tests/api_resources/test_messages.py",
    "tests/api_resources/test_models.py",
    "tests/api_resources/beta/test_messages.py",
    "tests/api_resources/beta/test_models.py",
    "tests/api_resources/messages/test_batches.py",
    "tests/api_resources/beta/messages/test_batches.py",
]


def sdk_tests(version: str) -> Path:
    """The sdist's source tree for ``version``, downloaded once and cached."""
    target = CACHE / f"anthropic-{version}"
    if (target / "tests").is_dir():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", f"anthropic=={version}", "-d", str(CACHE)],
        check=True,
    )
    archive = next(CACHE.glob(f"anthropic-{version}.tar.gz"))
    with tarfile.open(archive) as tar:
        tar.extractall(CACHE, filter="data")
    return target


def contract_python(version: str) -> Path:
    python = VENV / "bin" / "python"
    stamp = VENV / f".installed-{version}"
    if not stamp.exists():
        venv.create(VENV, with_pip=True, clear=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"anthropic[aiohttp]=={version}", *TEST_DEPS], check=True)
        stamp.touch()
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("pytest_args", nargs="*", help="extra arguments for pytest (e.g. -k batches)")
    args = parser.parse_args(argv)

    version = importlib.metadata.version("anthropic")
    source = sdk_tests(version)
    python = contract_python(version)
    port = free_port()
    server = serve(port, "--lenient", "--quiet", "--data-dir", ":memory:")
    try:
        env = {"TEST_API_BASE_URL": f"http://127.0.0.1:{port}", "PATH": "/usr/bin:/bin"}
        files = [f for f in TEST_FILES if (source / f).exists()]
        print(f"anthropic {version}: running {len(files)} SDK test files against mockserver --lenient", flush=True)
        result = subprocess.run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *files, *args.pytest_args], cwd=source, env=env)
        return result.returncode
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    raise SystemExit(main())
