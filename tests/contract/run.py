"""Run the official SDK's own API tests against mockserver in lenient (contract) mode.

    .venv/bin/python -m tests.contract.run                    # the SDK installed here (2.x)
    .venv/bin/python -m tests.contract.run --sdk 1.17.0       # an older release line
    make contract                                             # every line in CONTRACT_SDKS

The tests come from the ``anthropic`` sdist of that version on the package index (downloaded
once into ``.cache/sdk-tests``); they run in that version's own virtualenv
(``.venv-contract-<version>``, with the SDK's test dependencies of that era) against
``mockserver serve --lenient`` started from this project's venv, exactly as the SDK's
maintainers run them against their schema mock (``TEST_API_BASE_URL``). The last line printed
is ``anthropic <version>: N passed, M failed`` for CI logs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import re
import subprocess
import sys
import tarfile
import venv
from pathlib import Path

from tests.process_support import free_port, serve

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "sdk-tests"
PIP_CACHE = ROOT / ".cache" / "pip"
# Test dependencies by SDK release line: what that line's own dev lock file used. The 0.x tests
# predate inline-snapshot and http-snapshot, and their conftest needs pytest-asyncio < 1.
TEST_DEPS = {
    "modern": [
        "pytest>=8",
        "pytest-asyncio",
        "pytest-xdist",
        "respx",
        "inline-snapshot>=0.28.0",
        "http-snapshot[httpx]==0.1.9",
        "dirty-equals>=0.6.0",
        "time-machine",
    ],
    "0.x": [
        "pytest==8.3.3",
        "pytest-asyncio==0.24.0",
        "pytest-xdist",
        "respx==0.22.0",
        "dirty-equals==0.6.0",
        "time-machine",
        "nest_asyncio==1.6.0",
    ],
}
# The SDK's test files for the endpoints mockserver implements (messages, models, batches, files);
# a release line without one of them (0.x has no Files tests) runs the others.
TEST_FILES = [
    "tests/api_resources/test_messages.py",
    "tests/api_resources/test_models.py",
    "tests/api_resources/beta/test_messages.py",
    "tests/api_resources/beta/test_models.py",
    "tests/api_resources/messages/test_batches.py",
    "tests/api_resources/beta/messages/test_batches.py",
    "tests/api_resources/test_completions.py",  # 0.x only (Text Completions)
    "tests/api_resources/test_files.py",
    "tests/api_resources/beta/test_files.py",
]


def _line(version: str) -> str:
    return "0.x" if version.startswith("0.") else "modern"


def sdk_tests(version: str) -> Path:
    """The sdist's source tree for ``version``, downloaded once and cached."""
    target = CACHE / f"anthropic-{version}"
    if (target / "tests").is_dir():
        return target
    print(f"contract anthropic {version}: downloading its sources (first time only)...", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    archive = CACHE / f"anthropic-{version}.tar.gz"
    if not archive.exists():
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
             "--cache-dir", str(PIP_CACHE), f"anthropic=={version}", "-d", str(CACHE)],
            check=True,
        )
    with tarfile.open(archive) as tar:
        tar.extractall(CACHE, filter="data")
    return target


def contract_python(version: str) -> Path:
    """The interpreter of ``version``'s own venv, created (with its test deps) on first use."""
    env_dir = ROOT / f".venv-contract-{version}"
    python = env_dir / "bin" / "python"
    stamp = env_dir / ".installed-stamp"
    if not stamp.exists():
        print(f"contract anthropic {version}: creating {env_dir.name} with the SDK's test dependencies (first time only, about a minute)...", flush=True)
        venv.create(env_dir, with_pip=True, clear=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--cache-dir", str(PIP_CACHE),
             f"anthropic[aiohttp]=={version}", *TEST_DEPS[_line(version)]],
            check=True,
        )
        stamp.touch()
    return python


def run(version: str, pytest_args: list[str]) -> tuple[int, str]:
    """Run ``version``'s API tests; (pytest's exit code, its summary line)."""
    source = sdk_tests(version)
    python = contract_python(version)
    port = free_port()
    server = serve(port, "--lenient", "--quiet", "--data-dir", ":memory:")
    try:
        env = {"TEST_API_BASE_URL": f"http://127.0.0.1:{port}", "PATH": "/usr/bin:/bin"}
        files = [f for f in TEST_FILES if (source / f).exists()]
        print(f"anthropic {version}: running {len(files)} SDK test files against mockserver --lenient", flush=True)
        command = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *files, *pytest_args]
        result = subprocess.run(command, cwd=source, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
        lines = [line for line in result.stdout.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
        return result.returncode, (lines[-1].strip("= ") if lines else "no summary")
    finally:
        server.terminate()
        server.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sdk", action="append", metavar="VERSION",
                        help="SDK release to test (repeatable); default: the one installed here")
    parser.add_argument("pytest_args", nargs="*", help="extra arguments for pytest (e.g. -k batches)")
    args = parser.parse_args(argv)

    versions = args.sdk or [importlib.metadata.version("anthropic")]
    outcomes = [(version, *run(version, args.pytest_args)) for version in versions]
    for version, _, summary in outcomes:
        print(f"contract anthropic {version}: {summary}", flush=True)
    return max(code for _, code, _ in outcomes)


if __name__ == "__main__":
    raise SystemExit(main())
