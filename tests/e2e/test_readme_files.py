"""The README's Files example runs as written against a running server, and prints what its
comments say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mockserver.harness.testing import MockServer
from mockserver.protocol.media import pdf_text
from mockserver.protocol.tokens import PDF_PAGE_OVERHEAD, PDF_PAGE_TOKENS, count_text

README = Path(__file__).resolve().parents[2] / "README.md"
REPORT = (b"%PDF-1.4\n1 0 obj <</Type /Page>> endobj\n2 0 obj <</Type /Page>> endobj\n3 0 obj <</Length 44>>\nstream\n"
          b"BT /F1 12 Tf (Revenue grew in every quarter.) Tj ET\nendstream\n%%EOF")


def example() -> str:
    section = README.read_text().split("\n## Files\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the Files section has a python example"
    return match.group(1)


def test_the_files_example_runs_as_written(mockserver: MockServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", mockserver.url)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-mock-key")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report.pdf").write_bytes(REPORT)
    exec(compile(example(), str(README), "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"file_011C\w{20} application/pdf False", out[0])
    assert int(out[1]) == 2 * (PDF_PAGE_TOKENS + PDF_PAGE_OVERHEAD) + count_text(pdf_text(REPORT)) == 3198 + 6
    assert out[2:4] == ["['report.pdf']", "{'error_code': 'file_not_downloadable'}"]
    assert re.fullmatch(r"File not found: file_011C\w{20}", out[4]) and out[4].endswith(out[0].split()[0])
