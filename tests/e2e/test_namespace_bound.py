"""A client that sends a new namespace on every call cannot grow the server forever: past
``namespace_limit`` the least recently used namespace's journal and counts go, while a namespace
with rules (or files) set up keeps everything, its sequence position included."""

from __future__ import annotations

from typing import Callable

import anthropic

from mockserver.harness.testing import MockServer
from tests.batch_support import item, wait_ended
from tests.conftest import HAIKU

HI = [{"role": "user", "content": "Hi"}]


def test_old_namespaces_journals_go_while_namespaces_with_rules_files_or_batches_stay(make_server: Callable[..., MockServer]) -> None:
    server = make_server(namespace_limit=4)
    keeper, with_file, with_batch = server.namespaced("keeper"), server.namespaced("with-file"), server.namespaced("with-batch")
    keeper.sequence(["first", "second", "third"], name="steps")
    with keeper.client() as client:
        assert client.messages.create(model=HAIKU, max_tokens=20, messages=HI).content[0].text == "first"
    with with_file.client() as client:
        uploaded = client.beta.files.upload(file=("notes.txt", b"kept", "text/plain"), betas=["files-api-2025-04-14"])
    with with_batch.client() as client:
        batch = client.messages.batches.create(requests=[item("x")])
        wait_ended(client, batch.id)

    for n in range(12):
        with server.namespaced(f"old-{n}").client() as client:
            client.messages.create(model=HAIKU, max_tokens=20, messages=HI)

    assert [len(server.namespaced(f"old-{n}").journal) for n in range(12)] == [0] * 11 + [1]  # only the newest is held
    assert len(keeper.journal) == 1
    with keeper.client() as client:  # the sequence went on where it was, the journal kept its first call
        assert client.messages.create(model=HAIKU, max_tokens=20, messages=HI).content[0].text == "second"
    assert [e.seq for e in keeper.journal] == sorted(e.seq for e in keeper.journal) and len(keeper.journal) == 2
    assert len(with_file.journal) >= 1 and len(with_batch.journal) >= 1
    with with_file.client() as client:
        assert client.beta.files.retrieve_metadata(uploaded.id, betas=["files-api-2025-04-14"]).id == uploaded.id
    with with_batch.client() as client:
        assert client.messages.batches.retrieve(batch.id).processing_status == "ended"


def test_a_reset_namespace_is_an_ordinary_one_again(make_server: Callable[..., MockServer]) -> None:
    server = make_server(namespace_limit=2)
    was_kept = server.namespaced("was-kept")
    was_kept.reply("scripted")
    with was_kept.client() as client:
        client.messages.create(model=HAIKU, max_tokens=20, messages=HI)
    was_kept.reset()  # rules gone: nothing the user set up holds it any more
    with was_kept.client() as client:
        client.messages.create(model=HAIKU, max_tokens=20, messages=HI)
    for n in range(3):
        with server.namespaced(f"later-{n}").client(max_retries=0) as client:
            client.messages.create(model=HAIKU, max_tokens=20, messages=HI)
    assert len(was_kept.journal) == 0


def test_the_sdk_never_sees_an_error_when_namespaces_are_forgotten(make_server: Callable[..., MockServer]) -> None:
    server = make_server(namespace_limit=1)
    for n in range(30):
        with server.namespaced(f"churn-{n}").client(max_retries=0) as client:
            reply = client.messages.create(model=HAIKU, max_tokens=20, messages=HI)
            assert isinstance(reply, anthropic.types.Message)
            assert len(server.namespaced(f"churn-{n}").journal) == 1
