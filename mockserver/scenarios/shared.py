"""Run-time changes — rules added or removed, rate limits set, resets — per namespace, made the
same in every process that shares a store.

With a store of one process every change is made to the book directly. With a shared store
(``--state redis://…``) each namespace's overlay (mockserver/scenarios/book.py) is a versioned
document in the store: a change loads the latest version, makes the change, and saves it only
if nobody saved in between (else it loads and makes it again). Before each request (and each
admin call) a process asks the store which documents changed since it last looked — one round
trip when nothing did — and installs the new versions, so a change made through any process is
in force everywhere as soon as the call that made it has answered.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import orjson

from mockserver.pipeline.exchange import ApiRequest, Next, Reply
from mockserver.ratelimit.limiter import RateLimitConfig
from mockserver.scenarios.book import ScenarioBook
from mockserver.scenarios.errors import ScenarioError
from mockserver.scenarios.format import Rule
from mockserver.store.base import Store, StoreUnavailable

if TYPE_CHECKING:
    from mockserver.documents import Yaml11Scalar

T = TypeVar("T")
PREFIX = "admin:"  # documents' keys: admin:<namespace> (outside every namespace's own keys)
TRIES = 50


def _encode(data: dict[str, Any] | None, namespace: str) -> bytes | None:
    if data is None:
        return None
    try:
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:
        raise ScenarioError(f"rules shared through the store must be plain YAML/JSON data ({exc})", source=f"<namespace {namespace}>") from None


class AdminState:
    """The run-time changes of every namespace, through the book (and the store when shared)."""

    def __init__(self, book: ScenarioBook, store: Store) -> None:
        self.book = book
        self.store = store
        self.shared = store.shared
        self._seen = 0  # the store's count of document saves when last synchronised
        self._waiting: "tuple[asyncio.Task[None], asyncio.Future[None]] | None" = None  # a look not yet sent
        self._locks: dict[asyncio.AbstractEventLoop, asyncio.Lock] = {}

    @property
    def _lock(self) -> asyncio.Lock:
        """One change at a time from this process (per loop: a server not yet started is
        scripted from a loop of its own)."""
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = asyncio.Lock()
            self._locks = {loop: lock}
        return lock

    # -- changes ---------------------------------------------------------------------------------
    async def add(
        self, data: Any, *, namespace: str, source: str, label: str, first_index: int | None = None,
        yaml11: dict[tuple[Any, ...], Yaml11Scalar] | None = None,
    ) -> list[Rule]:
        return await self._change(
            namespace, lambda: self.book.add(data, source=source, label=label, namespace=namespace, first_index=first_index, yaml11=yaml11)
        )

    async def remove(self, name: str, namespace: str) -> bool:
        return await self._change(namespace, lambda: self.book.remove(name, namespace))

    async def clear(self, namespace: str) -> int:
        """Drop the rules added at run time (file rules start over); how many rules went."""
        def clear() -> int:
            before = len(self.book.rules_for(namespace))
            self.book.clear(namespace)
            return before - len(self.book.rules_for(namespace))

        return await self._change(namespace, clear)

    async def set_limits(self, config: RateLimitConfig | None, namespace: str) -> None:
        await self._change(namespace, lambda: self.book.set_limits(config, namespace))

    async def reset(self, namespace: str) -> None:
        await self._change(namespace, lambda: self.book.reset(namespace))

    async def _change(self, namespace: str, change: Callable[[], T]) -> T:
        if not self.shared:
            return change()
        key = PREFIX + namespace
        async with self._lock:  # a retry never repeats another change of this process
            for _ in range(TRIES):
                await self._load(namespace)
                expected = self.book.version(namespace)
                result = change()  # a mistake (ScenarioError) raises before anything is saved
                try:
                    saved = await self.store.save_doc(key, expected, _encode(self.book.export(namespace), namespace))
                except BaseException:
                    await self._forget(namespace)
                    raise
                if saved is not None:
                    if self.book.export(namespace) is not None:
                        self.book.set_version(namespace, saved)
                    return result
            raise RuntimeError(f"namespace {namespace!r}: the change kept meeting others' changes")

    async def _forget(self, namespace: str) -> None:
        """The local overlay may hold an unsaved change: take the stored one again when possible."""
        try:
            await self._load(namespace, force=True)
        except Exception:
            pass

    async def _load(self, namespace: str, *, force: bool = False) -> None:
        version, raw = await self.store.load_doc(PREFIX + namespace)
        if force or version != self.book.version(namespace):
            self.book.install(namespace, orjson.loads(raw) if raw is not None else None, version)

    # -- synchronising ---------------------------------------------------------------------------
    async def sync(self) -> None:
        """Install every namespace's overlay saved by any process since the last look.

        Calls that arrive while a look is waiting to be sent share it (they all arrived before
        it asks, so it answers for each of them): under load one round trip serves many calls."""
        if not self.shared:
            return
        waiting = self._waiting
        if waiting is None or waiting[1].get_loop() is not asyncio.get_running_loop():
            loop = asyncio.get_running_loop()
            done: asyncio.Future[None] = loop.create_future()
            done.add_done_callback(_retrieved)
            waiting = self._waiting = (loop.create_task(self._look(done)), done)
        await asyncio.shield(waiting[1])

    async def _look(self, done: "asyncio.Future[None]") -> None:
        self._waiting = None  # from now on, callers wait for the next look
        try:
            await self._sync_now()
        except BaseException as exc:
            if not done.done():
                done.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            if not done.done():
                done.set_result(None)

    async def _sync_now(self) -> None:
        count, keys, everything = await self.store.doc_changes(self._seen)
        if count == self._seen:
            return
        async with self._lock:
            namespaces = {key[len(PREFIX):] for key in keys if key.startswith(PREFIX)}
            if everything:  # too far behind (or the store lost its data): every overlay there is, and ours
                namespaces |= set(self.book.namespaces())
            for namespace in namespaces:
                await self._load(namespace, force=everything)
            self._seen = count


def _retrieved(future: "asyncio.Future[None]") -> None:
    """Every caller may have gone (cancelled): the error is theirs, not the loop's to report."""
    if not future.cancelled():
        future.exception()


class SyncStage:
    """First in the chain while the store is shared: run-time changes from every process apply.
    With ``fail_open``, an unreachable store leaves the last known changes in force."""

    def __init__(self, state: AdminState, *, fail_open: bool = False) -> None:
        self.state = state
        self.fail_open = fail_open

    async def __call__(self, request: ApiRequest, next: Next) -> Reply:
        try:
            await self.state.sync()
        except StoreUnavailable:
            if not self.fail_open:
                raise
        return await next(request)
