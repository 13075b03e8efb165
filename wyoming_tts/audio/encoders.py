"""16-bit mono PCM to the speech API's formats, as the audio is made.

`wav` is a header (its sizes say "as long as it goes") and the PCM; `pcm` is the PCM. `mp3`,
the API's default, is encoded in-process by LAME (`lameenc`, a 0.2 MB wheel for every
platform): each frame as it comes, on a worker thread (0.4 ms per 80 ms frame here), so it
needs nothing installed and the images serve it. The others go through one ffmpeg process
per response, which reads PCM on its standard input and writes the encoded stream on its
standard output as it goes, so the first bytes leave while the model still speaks. ffmpeg is
a program, not a library here (Debian's `ffmpeg` package); without it opus, aac and flac are
refused with a sentence that names the formats served.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import struct
from collections.abc import AsyncIterator

MP3_KBPS = 64
# Format -> ffmpeg's output options.
_FFMPEG = {
    "opus": ["-c:a", "libopus", "-b:a", "32k", "-f", "ogg"],
    "aac": ["-c:a", "aac", "-b:a", "64k", "-f", "adts"],
    "flac": ["-c:a", "flac", "-f", "flac"],
}
FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
READ_BYTES = 4096


IN_PROCESS = ("wav", "pcm", "mp3")


def have_ffmpeg() -> bool:
    return shutil.which("ffmpeg") is not None


def served() -> tuple[str, ...]:
    """The formats this server can encode now (ffmpeg's only when the program is there)."""
    return FORMATS if have_ffmpeg() else IN_PROCESS


async def _mp3(pcm: AsyncIterator[bytes], rate: int) -> AsyncIterator[bytes]:
    import lameenc

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(MP3_KBPS)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(5)  # LAME's "good": 4.4 ms CPU per second of audio here (2: 10.5 ms)
    async for chunk in pcm:
        if data := await asyncio.to_thread(encoder.encode, chunk):
            yield bytes(data)
    if tail := encoder.flush():
        yield bytes(tail)


def wav_header(rate: int, samples: int = 0x7FFFFFFF // 2) -> bytes:
    """A 16-bit mono WAV header; the sizes say "as long as it goes" (the length is unknown)."""
    data = samples * 2
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data)
    )


async def encode(pcm: AsyncIterator[bytes], fmt: str, rate: int) -> AsyncIterator[bytes]:
    """PCM chunks to FMT's bytes, yielded as soon as the encoder gives them."""
    if fmt == "pcm":
        async for chunk in pcm:
            yield chunk
        return
    if fmt == "wav":
        yield wav_header(rate)
        async for chunk in pcm:
            yield chunk
        return
    if fmt == "mp3":
        async for data in _mp3(pcm, rate):
            yield data
        return
    process = await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin",
        # Read the PCM as it comes (no probing, small reads): the first frame is encoded at
        # once instead of when ffmpeg's input buffer is full.
        "-probesize", "32", "-analyzeduration", "0", "-fflags", "nobuffer",
        "-blocksize", str(READ_BYTES),
        "-f", "s16le", "-ar", str(rate), "-ac", "1", "-i", "pipe:0",
        *_FFMPEG[fmt], "-flush_packets", "1", "pipe:1",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert process.stdin is not None and process.stdout is not None
    stdin, stdout = process.stdin, process.stdout

    async def feed() -> None:
        try:
            async for chunk in pcm:
                stdin.write(chunk)
                await stdin.drain()
        finally:
            with contextlib.suppress(ConnectionError):
                stdin.close()

    feeder = asyncio.create_task(feed())
    try:
        while data := await stdout.read(READ_BYTES):
            yield data
        await feeder  # raises what the audio raised (a failed synthesis)
    finally:
        feeder.cancel()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        await process.wait()
