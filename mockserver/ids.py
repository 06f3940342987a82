"""Identifiers in the real API's formats, from one seedable generator.

Real ids are ``<prefix>_01`` + 22 base58 characters, or in newer traffic ``<prefix>_011C`` + 20
(docs/protocol.md). With a seed the sequence repeats exactly, so a seeded run is byte-for-byte
repeatable; without one, the generator is seeded once from the OS. Fake ids need to be unique,
not unguessable, so no system call per id.
"""

from __future__ import annotations

import random
import uuid

BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# byte -> base58 character (a slight bias towards the first 24 characters is harmless for ids)
_TO_BASE58 = bytes(ord(BASE58[b % 58]) for b in range(256))

# prefix -> (the id's fixed start: prefix, underscore and marker; number of base58 characters after it)
_FORMATS: dict[str, tuple[str, int]] = {
    "msg": ("msg_011C", 20),
    "req": ("req_011C", 20),
    "file": ("file_011C", 20),
    "container": ("container_011C", 20),  # code execution (docs/protocol.md "Server tool blocks")
    "toolu": ("toolu_01", 22),
    "srvtoolu": ("srvtoolu_01", 22),
    "msgbatch": ("msgbatch_01", 22),
    "wrkspc": ("wrkspc_01", 22),
}


class IdGenerator:
    """Makes ``msg_``, ``req_``, ``toolu_``, ``msgbatch_`` … ids; seeded means repeatable."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(f"ids:{seed}") if seed is not None else random.Random()

    def new(self, prefix: str) -> str:
        start, n = _FORMATS.get(prefix) or (f"{prefix}_01", 22)
        return start + self._rng.getrandbits(8 * n).to_bytes(n, "little").translate(_TO_BASE58).decode()

    def message(self) -> str:
        return self.new("msg")

    def request(self) -> str:
        return self.new("req")

    def tool_use(self) -> str:
        return self.new("toolu")

    def server_tool_use(self) -> str:
        return self.new("srvtoolu")

    def batch(self) -> str:
        return self.new("msgbatch")

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

