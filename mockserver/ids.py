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

# prefix -> (marker after the underscore, number of base58 characters after it)
_FORMATS: dict[str, tuple[str, int]] = {
    "msg": ("011C", 20),
    "req": ("011C", 20),
    "file": ("011C", 20),
    "toolu": ("01", 22),
    "srvtoolu": ("01", 22),
    "msgbatch": ("01", 22),
    "wrkspc": ("01", 22),
}


class IdGenerator:
    """Makes ``msg_``, ``req_``, ``toolu_``, ``msgbatch_`` … ids; seeded means repeatable."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._rng = random.Random(f"ids:{seed}") if seed is not None else random.Random()

    def _chars(self, n: int) -> str:
        return self._rng.getrandbits(8 * n).to_bytes(n, "little").translate(_TO_BASE58).decode()

    def new(self, prefix: str) -> str:
        marker, n = _FORMATS.get(prefix, ("01", 22))
        return f"{prefix}_{marker}{self._chars(n)}"

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

