"""The cassette stage: replay what was recorded, record (through the upstream) what was not.

In the chain after the scenarios (a scripted rule still answers first) and in place of the
emulated API: with a cassette, the recording or the upstream is the truth, so nothing is passed
on to ``next`` — a request nobody recorded is a miss (record mode ``none``) or goes upstream.
"""

from __future__ import annotations

from mockserver.cassettes.record import Recorder
from mockserver.cassettes.replay import Replayer
from mockserver.pipeline.exchange import ApiRequest, Next, Reply


class CassetteStage:
    def __init__(self, replayer: Replayer | None, recorder: Recorder | None) -> None:
        assert replayer is not None or recorder is not None
        self.replayer = replayer
        self.recorder = recorder

    async def __call__(self, request: ApiRequest, next: Next) -> Reply:
        if self.replayer is not None:
            reply = await self.replayer.answer(request)  # ``None`` only when the recorder takes misses
            if reply is not None:
                return reply
        assert self.recorder is not None
        return await self.recorder.answer(request)

    def rewind(self) -> None:
        """Start the cassette over: every recording may be replayed again."""
        if self.replayer is not None:
            self.replayer.cassette.rewind()

    async def close(self) -> None:
        if self.recorder is not None:
            await self.recorder.aclose()
