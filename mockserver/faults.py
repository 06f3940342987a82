"""Faults that change how a reply is delivered, never what it says (scenarios attach them).

The delivery code asks a ``Faults`` object only a few questions, so every fault works on every
kind of reply: plain JSON, Message streams, raw event scripts and replayed bytes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Faults:
    latency: float = 0.0  # seconds before the status line and headers

    def describe(self) -> list[str]:
        return [f"latency={self.latency}s"] if self.latency else []
