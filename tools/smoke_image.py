"""Smoke test run inside a built image: the installed server speaks one real Synthesize.

It needs nothing from outside the image: a tiny random-weight model is made on the spot with
the package's own random_model, the server starts as a subprocess on loopback, and the
`wyoming` client the image already carries sends a Describe and a Synthesize. The release
workflow runs it in every image it builds (under QEMU for aarch64), and script/check-images
runs it here, as `python /tools/smoke_image.py` with this folder mounted at /tools.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from wyoming.audio import AudioChunk, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice

from wyoming_tts.pocket.random_model import tiny_config, write_voice

START_SECONDS = 600.0  # torch's import under QEMU is slow


async def speak(port: int) -> int:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        while not Info.is_type((event := await asyncio.wait_for(client.read_event(), 60)).type):
            pass
        await client.write_event(
            Synthesize("Front door opened.", voice=SynthesizeVoice("hummer")).event()
        )
        samples = 0
        while True:
            event = await asyncio.wait_for(client.read_event(), 120)
            if event is None or AudioStop.is_type(event.type):
                return samples
            if AudioChunk.is_type(event.type):
                chunk = AudioChunk.from_event(event)
                samples += len(chunk.audio) // chunk.width


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        folder = Path(tmp)
        config = tiny_config(folder)
        write_voice(folder / "voices" / "hummer.wav")
        command = [sys.executable, "-m", "wyoming_tts", "--uri", f"tcp://127.0.0.1:{port}",
                   "--model", str(config), "--voice", "hummer", "--voices-dir",
                   str(folder / "voices"), "--data-dir", str(folder / "data")]  # fmt: skip
        server = subprocess.Popen(command)
        try:
            deadline = time.monotonic() + START_SECONDS
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    socket.create_connection(("127.0.0.1", port), 1).close()
                    break
                except OSError:
                    time.sleep(0.5)
            samples = asyncio.run(speak(port))
        finally:
            server.terminate()
            server.wait(60)
    print(f"smoke: {samples} samples of audio")
    return 0 if samples > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
