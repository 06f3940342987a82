"""Batches survive the server: a clean restart resumes them, and SIGKILL mid-batch loses no
result that was reported as finished (a real ``mockserver serve`` subprocess); 10,000 requests
go through with results streamed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import anthropic
import pytest

from mockserver.store.sqlite import DB_NAME
from mockserver.harness.testing import MockServer
from tests.batch_support import item, raw_results, wait_ended, wait_for
from tests.process_support import free_port, serve

ROOT = Path(__file__).resolve().parents[2]


def test_restart_keeps_every_batch_and_resumes_processing(tmp_path: Path) -> None:
    with MockServer(data_dir=tmp_path, batch_pace=40, batch_live_counts=True) as first:
        client = first.client()
        done = client.messages.batches.create(requests=[item("only")])
        wait_ended(client, done.id)
        running = client.messages.batches.create(requests=[item(f"r{i}", f"Question {i}") for i in range(200)])  # ~5 s
        reported = wait_for(client, running.id, lambda b: b.request_counts.succeeded >= 5).request_counts.succeeded
    # stopped mid-batch; a new server on the same data dir picks it up (and goes faster)
    with MockServer(data_dir=tmp_path, batch_live_counts=True) as second:
        client = second.client()
        assert [b.id for b in client.messages.batches.list()] == [running.id, done.id]
        assert client.messages.batches.retrieve(running.id).request_counts.succeeded >= reported
        ended = wait_ended(client, running.id)
        assert ended.request_counts.succeeded == 200 and ended.created_at == running.created_at
        ids = [r.custom_id for r in client.messages.batches.results(running.id)]
        assert sorted(ids) == sorted(f"r{i}" for i in range(200))  # each exactly once
        assert [r.custom_id for r in client.messages.batches.results(done.id)] == ["only"]
    assert (tmp_path / DB_NAME).exists()


def test_a_data_dir_serves_one_server_at_a_time(tmp_path: Path) -> None:
    with MockServer(data_dir=tmp_path) as first:
        first.client().messages.batches.create(requests=[item("a")])
        try:
            MockServer(data_dir=tmp_path).start()
        except RuntimeError as error:
            assert "in use by another mockserver" in str(error.__cause__)
        else:
            raise AssertionError("a second server opened a data dir in use")


# -- SIGKILL ------------------------------------------------------------------------------------


def _serve(port: int, data_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
    return serve(port, "--data-dir", str(data_dir), "--quiet", *extra, stderr=subprocess.PIPE)


def _finished_rows(data_dir: Path, batch_id: str) -> dict[int, bytes]:
    """What the store holds as finished right now (read-only, beside the running server)."""
    conn = sqlite3.connect(f"file:{data_dir / DB_NAME}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT idx, line FROM results WHERE batch_seq = (SELECT seq FROM batches WHERE id = ?)", (batch_id,)
        ).fetchall()
    finally:
        conn.close()
    return dict(rows)


def test_sigkill_mid_batch_loses_no_reported_result(tmp_path: Path) -> None:
    port = free_port()
    proc = _serve(port, tmp_path, "--batch-pace", "50", "--batch-live-counts", "--seed", "7")
    client = anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key="sk-ant-test", _strict_response_validation=True)
    try:
        batch = client.messages.batches.create(requests=[item(f"r{i}", f"Question {i}") for i in range(300)])  # ~6 s
        reported = wait_for(client, batch.id, lambda b: b.request_counts.succeeded >= 20).request_counts.succeeded
        finished = _finished_rows(tmp_path, batch.id)
        assert len(finished) >= reported
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL

    proc = _serve(port, tmp_path, "--batch-live-counts", "--seed", "7")  # same seed: batch ids must not collide
    try:
        assert client.messages.batches.retrieve(batch.id).request_counts.succeeded >= len(finished)
        ended = wait_ended(client, batch.id)
        assert ended.request_counts.succeeded == 300
        _, body = raw_results(client, batch.id)
        lines = body.split(b"\n")[:-1]
        assert len(lines) == 300 and len({line.split(b'"', 4)[3] for line in lines}) == 300
        for idx, line in finished.items():  # every result finished before the kill, byte for byte
            assert lines[idx] == line
        other = client.messages.batches.create(requests=[item("after-restart")])
        assert other.id != batch.id
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- scale --------------------------------------------------------------------------------------


def test_ten_thousand_requests(make_server) -> None:
    server = make_server()
    client = server.client(timeout=120)
    n = 10_000
    batch = client.messages.batches.create(requests=[item(f"q{i}", f"Question {i % 500}?") for i in range(n)])
    assert batch.request_counts.processing == n
    ended = wait_ended(client, batch.id, timeout=120)
    assert ended.request_counts.succeeded == n
    count = 0
    with client.messages.batches.with_streaming_response.results(batch.id) as response:
        for line in response.iter_lines():
            assert line.startswith('{"custom_id":"q')
            count += 1
    assert count == n


def test_serve_refuses_a_data_dir_in_use_and_a_negative_pace(tmp_path: Path) -> None:
    port = free_port()
    first = _serve(port, tmp_path)
    try:
        anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key="k").messages.batches.create(requests=[item("a")])
        second = subprocess.run(
            [sys.executable, "-m", "mockserver", "serve", "--port", str(free_port()), "--data-dir", str(tmp_path)],
            cwd=ROOT, capture_output=True, text=True, timeout=30,
        )
        assert second.returncode == 2 and "in use by another mockserver" in second.stderr
        # the helper every runner starts servers with says so at once, instead of carrying on
        with pytest.raises(RuntimeError, match="exited with status 2: .*in use by another mockserver"):
            _serve(free_port(), tmp_path)
    finally:
        first.terminate()
        first.wait(timeout=10)
    memory = subprocess.run(
        [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--data-dir", ":memory:", "--batch-pace", "-1"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )
    assert memory.returncode == 2 and "must be a number >= 0" in memory.stderr
