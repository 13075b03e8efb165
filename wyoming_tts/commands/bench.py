"""`wyoming-tts bench`: the server over a socket against Pocket TTS in-process, same model.

Runs the real server as a subprocess on a free loopback port, measures it as Home Assistant
uses it, then measures the same segments through pocket-tts in this process (while the server
idles), and prints a markdown table. `--random-weights` builds a named model's full-size
architecture with no weights to download: speed per frame is the same as with real weights.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from wyoming.client import AsyncTcpClient
from wyoming.info import Describe
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeVoice,
)

from wyoming_tts import memory
from wyoming_tts.pocket.random_model import random_weights_config, write_voice
from wyoming_tts.settings import add_quantize, quantize_setting
from wyoming_tts.text import split_text

SHORT = "The kitchen lights are now on."
LONG = (
    "The living room is at twenty one degrees and the heating is off. "
    "All the windows are closed and the front door is locked. "
    "Tomorrow will be sunny with a light breeze in the afternoon."
)
REPLY = (
    "Sure, I have turned on the lights in the kitchen and the living room. "
    "The temperature inside is twenty one degrees, which is comfortable. "
    "Is there anything else you would like me to do?"
)
# Texts of unequal length for the clients at once (rows join and leave at different frames).
LOAD_TEXTS = [LONG, SHORT, REPLY, "Good morning! The coffee is ready."]
TINY_REQUEST = "Lights are on."
LONG_REQUEST = " ".join([LONG] * 7)  # 245 words


@dataclass
class Results:
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)

    def add(self, name: str, value: str, target: str, verdict: str | bool = "") -> None:
        if isinstance(verdict, bool):
            verdict = "met" if verdict else "**missed**"
        self.rows.append((name, value, target, verdict))

    def table(self) -> str:
        lines = ["| Measure | Value | Target | |", "| --- | --- | --- | --- |"]
        lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in self.rows]
        return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wyoming-tts bench", description=__doc__)
    parser.add_argument("--model", default="english", help="as the server's --model")
    parser.add_argument("--random-weights", action="store_true", help="no weights to download")
    parser.add_argument("--voice", help="built-in voice (default: a generated recording)")
    add_quantize(parser)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--runs", type=int, default=10, help="runs per latency median")
    parser.add_argument("--requests", type=int, default=100, help="requests for the memory test")
    parser.add_argument("--describes", type=int, default=200, help="Describes during synthesis")
    parser.add_argument("--clients", default="1,2,4", help="concurrency levels")
    parser.add_argument(
        "--rounds", type=int, default=2, help="times each client says all the load texts"
    )
    parser.add_argument(
        "--throughput-goal",
        type=float,
        default=1.3,
        help="4 clients' audio per wall second over one client's (1.5 for the tiny model)",
    )
    parser.add_argument("--delta-chars", type=int, default=4, help="characters per LLM delta")
    parser.add_argument("--delta-ms", type=float, default=15.0, help="time between deltas")
    parser.add_argument(
        "--hostile",
        action="store_true",
        help="only measure Describe latency while hostile clients send their worst text",
    )
    parser.add_argument(
        "--http",
        action="store_true",
        help="only compare the OpenAI-compatible speech API with Wyoming, same text",
    )
    parser.add_argument(
        "--cache",
        action="store_true",
        help="only measure a repeated text's first audio from the audio cache",
    )
    parser.add_argument(
        "--rates",
        action="store_true",
        help="only measure first audio and throughput at speech rates 1.0, 0.8 and 1.3",
    )
    parser.add_argument(
        "--new-voice",
        type=int,
        metavar="N",
        help="only measure N listeners' worst silence while a new voice is encoded",
    )
    parser.add_argument("--max-batch", type=int, default=4, help="as the server's --max-batch")
    parser.add_argument(
        "--batch-sizes",
        help="only measure batches of these sizes in this process (e.g. 1,2,4,6,8)",
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="per batch size")
    args = parser.parse_args(argv)
    args.quantize = quantize_setting(args.quantize)
    with tempfile.TemporaryDirectory(prefix="wyoming-tts-bench-") as tmp:
        folder = Path(tmp)
        model = args.model
        if args.random_weights:
            model = str(random_weights_config(args.model, folder))
        voices = folder / "voices"
        voice = args.voice
        if voice is None:
            write_voice(voices / "bench.wav", seconds=5.0)
            voice = "bench"
        voices.mkdir(exist_ok=True)
        if args.batch_sizes:
            return _batch_table(args, model, voice, voices)
        port = _free_port()
        args.web_port = _free_port()
        launched = time.monotonic()
        server = _start_server(args, model, voice, voices, folder / "data", port)
        try:
            results = asyncio.run(_measure(args, model, voice, voices, port, server, launched))
        finally:
            server.terminate()
            server.wait(10)
    print(
        f"\nwyoming-tts bench: model {args.model}{' (random weights)' * args.random_weights}"
        f"{' int8' * args.quantize}, {args.threads} thread(s), --max-batch {args.max_batch}, "
        f"CPU: {_cpu()}\n"
    )
    print(results.table())
    return 0


async def _cache_rows(port: int, voice: str, runs: int) -> list[tuple[str, str, str, bool | str]]:
    """A repeated announcement: first audio spoken (new texts) and from the cache."""
    speak = _Client(port, voice)
    await speak.plain(SHORT)  # warm-up
    spoken, cached = [], []
    for index in range(runs):
        text = f"The washing machine number {index + 2} has finished."
        spoken.append((await speak.plain(text))[0])  # a new text: the model speaks it
    repeated = "Front door opened."
    await speak.plain(repeated)
    for _ in range(runs):
        cached.append((await speak.plain(repeated))[0])
    model, hit = statistics.median(spoken), statistics.median(cached)
    return [
        ("First audio, a new text (spoken)", f"{model * 1000:.0f} ms", "", ""),
        (
            f"First audio, a repeated text (from the cache, median of {runs})",
            f"{hit * 1000:.1f} ms ({hit / model:.2f} of spoken)",
            "a few ms",
            hit <= 0.01,
        ),
    ]


def _batch_table(args: argparse.Namespace, model: str, voice: str, voices: Path) -> int:
    from wyoming_tts.commands.bench_batch import measure

    sizes = [int(k) for k in args.batch_sizes.split(",") if k.strip()]
    local = _InProcess(args, model, voice, voices)
    rows = measure(local.model, local.state, sizes, args.seconds)
    print(
        f"\nwyoming-tts bench: rows per batch, model {args.model}"
        f"{' (random weights)' * args.random_weights}{' int8' * args.quantize}, "
        f"{args.threads} thread(s), CPU: {_cpu()}\n"
    )
    print("\n".join(rows))
    return 0


def _start_server(
    args: argparse.Namespace, model: str, voice: str, voices: Path, data: Path, port: int
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "wyoming_tts",
        "--uri",
        f"tcp://127.0.0.1:{port}",
        "--model",
        model,
        "--voice",
        voice,
        "--voices-dir",
        str(voices),
        "--data-dir",
        str(data),
        "--threads",
        str(args.threads),
        "--max-queue",
        "8",
        "--max-batch",
        str(args.max_batch),
    ]
    if args.http or args.rates:
        command += ["--web-uri", f"tcp://127.0.0.1:{args.web_port}"]
    if args.hostile:
        from wyoming_tts.commands.bench_hostile import MAX_TEXT_CHARS

        command += ["--max-text-chars", str(MAX_TEXT_CHARS)]
    if not args.cache:  # the other scenarios repeat their texts: they measure the model
        command += ["--audio-cache-mb", "0"]
    command.append("--quantize" if args.quantize else "--no-quantize")
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _measure(
    args: argparse.Namespace,
    model: str,
    voice: str,
    voices: Path,
    port: int,
    server: subprocess.Popen[bytes],
    launched: float,
) -> Results:
    await wait_for_port(port, server)
    results = Results()
    ready = time.monotonic() - launched
    results.add("Ready (port open) after start", f"{ready:.1f} s", "≤ 10 s", ready <= 10)
    results.add(
        "Server memory when ready / peak while loading",
        f"{rss_mb(server.pid):.0f} / {peak_mb(server.pid):.0f} MB",
        "",
    )
    if args.hostile:
        from wyoming_tts.commands.bench_hostile import measure

        for name, value in await measure(port):
            results.add(name, value, "p99 ≤ 50 ms" if "p99" in name else "")
        return results
    if args.http:
        from wyoming_tts.commands import bench_http

        for _ in range(2):
            await _Client(port, voice).plain(SHORT)  # warm-up
        rows = await bench_http.measure(port, args.web_port, voice, SHORT, LONG, args.runs)
        for name, value, target, met in rows:
            results.add(name, value, target, met)
        return results
    if args.cache:
        for name, value, target, verdict in await _cache_rows(port, voice, args.runs):
            results.add(name, value, target, verdict)
        return results
    if args.rates:
        from wyoming_tts.commands import bench_rate

        for _ in range(2):
            await _Client(port, voice).plain(SHORT)  # warm-up
        for name, value, target, verdict in await bench_rate.measure(
            args.web_port, voice, SHORT, LONG, args.runs
        ):
            results.add(name, value, target, verdict)
        return results
    if args.new_voice:
        from wyoming_tts.commands import bench_voice

        for name, value in await bench_voice.measure(port, voice, voices, args.new_voice):
            results.add(name, value, "+≤ 100 ms" if "silence" in name else "")
        return results
    speak = _Client(port, voice)
    for _ in range(2):
        await speak.plain(SHORT)  # warm-up

    # The same model, voice and segments in this process. Each in-process run alternates with
    # a socket run (one side idles while the other works), so that drift of a shared machine
    # lands on both sides alike.
    local = await asyncio.to_thread(_InProcess, args, model, voice, voices)
    first_clause = split_text(REPLY)[0]
    ttfa_pairs, rtf_pairs, clause_runs = [], [], []
    for _ in range(args.runs):
        ttfa_pairs.append(
            (await asyncio.to_thread(local.ttfa, SHORT), (await speak.plain(SHORT))[0])
        )
        clause_runs.append(await asyncio.to_thread(local.ttfa, first_clause))
    for _ in range(max(3, args.runs // 2)):
        rtf_pairs.append((await asyncio.to_thread(local.rtf, LONG), (await speak.plain(LONG))[2]))
    del local
    ttfa_local = statistics.median(pair[0] for pair in ttfa_pairs)
    ttfa_socket = statistics.median(pair[1] for pair in ttfa_pairs)
    rtf_local = statistics.median(pair[0] for pair in rtf_pairs)
    rtf_socket = statistics.median(pair[1] for pair in rtf_pairs)
    ttfa_clause = statistics.median(clause_runs)
    p1 = ttfa_socket / ttfa_local
    results.add(
        "P1 time to first audio, socket / in-process",
        f"{p1:.2f} ({ttfa_socket * 1000:.0f} / {ttfa_local * 1000:.0f} ms)",
        "≤ 1.10",
        p1 <= 1.10,
    )
    p2 = rtf_socket / rtf_local
    results.add(
        "P2 real-time factor, socket / in-process",
        f"{p2:.2f} ({rtf_socket:.2f}× / {rtf_local:.2f}×)",
        "≥ 0.95",
        p2 >= 0.95,
    )

    streamed = [
        await speak.streamed(REPLY, args.delta_chars, args.delta_ms / 1000)
        for _ in range(args.runs)
    ]
    from_first = statistics.median(s[0] for s in streamed)
    from_clause = statistics.median(s[1] for s in streamed)
    p3 = from_first / ttfa_clause
    results.add(
        "P3 streamed reply: first delta → first audio, / in-process first clause",
        f"{p3:.2f} ({from_first * 1000:.0f} / {ttfa_clause * 1000:.0f} ms)",
        "≤ 1.2",
        p3 <= 1.2,
    )
    results.add(
        "P3′ same, from the delta that completes the first clause",
        f"{from_clause / ttfa_clause:.2f} ({from_clause * 1000:.0f} ms)",
        "",
        f"clause of {len(first_clause)} chars at {args.delta_chars} chars / {args.delta_ms:g} ms",
    )

    p50, p99 = await speak.describe_during_synthesis(" ".join([LONG] * 4), args.describes)
    results.add(
        "P4 Describe latency during synthesis, p50 / p99",
        f"{p50 * 1000:.1f} / {p99 * 1000:.1f} ms",
        "p99 ≤ 50 ms",
        p99 <= 0.050,
    )

    rss = {}
    for index in range(1, max(args.requests, 21) + 1):
        await speak.plain(SHORT)
        if index in (20, max(args.requests, 21)):
            rss[index] = rss_mb(server.pid)
    last = max(rss)
    results.add(
        f"Server memory after {last} requests",
        f"{rss[last]:.0f} MB",
        "≤ 600 MB (flagship)",
        rss[last] <= 600,
    )
    p5 = rss[last] / rss[20]
    results.add(
        f"P5 server memory after 20 / {last} requests",
        f"{p5:.3f} ({rss[20]:.0f} → {rss[last]:.0f} MB)",
        "≤ 1.05",
        p5 <= 1.05,
    )

    await _concurrency(args, speak, results, ttfa_socket)
    results.add(
        "Server memory after the clients at once / peak so far",
        f"{rss_mb(server.pid):.0f} / {peak_mb(server.pid):.0f} MB",
        "",
    )
    return results


async def _concurrency(
    args: argparse.Namespace, speak: _Client, results: Results, idle: float
) -> None:
    """Several clients at once: first audio of each, audio made per wall second, lengths."""
    levels = sorted({int(k) for k in args.clients.split(",") if k.strip()} | {1})
    throughput: dict[int, float] = {}
    slowest: dict[int, float] = {}
    alone = [await speak.plain(text) for text in LOAD_TEXTS]
    worst = 0.0  # the largest difference in length from the same text alone, in seconds
    for k in levels:
        rounds = args.rounds * len(LOAD_TEXTS)
        wall, audio, ttfas, lengths, errors = await speak.concurrent(LOAD_TEXTS, k, rounds)
        throughput[k] = audio / wall
        slowest[k] = max(ttfas)
        ratio = throughput[k] / throughput[1]
        if k > 1:
            worst = max([worst, *(abs(n - alone[i][1]) for i, n in lengths)])
        results.add(
            f"{k} client(s) at once: first audio median / max, audio s per wall s",
            f"{statistics.median(ttfas) * 1000:.0f} / {max(ttfas) * 1000:.0f} ms, "
            f"{throughput[k]:.2f} ({ratio:.2f}× one client)",
            "" if k < 4 else f"≥ {args.throughput_goal:g}× one client; max ≤ 3× idle",
            f"{errors} errors" if k < 4 else (ratio >= args.throughput_goal and errors == 0),
        )
    if 4 in slowest:
        results.add(
            "4 clients: slowest first audio / idle first audio",
            f"{slowest[4] / idle:.2f} ({slowest[4] * 1000:.0f} / {idle * 1000:.0f} ms)",
            "≤ 3",
            slowest[4] <= 3 * idle,
        )
    pair = [await speak.simultaneous(SHORT, 2) for _ in range(args.runs)]
    later = statistics.median(max(p) for p in pair)
    results.add(
        "The later of two simultaneous clients: first audio / idle",
        f"{later / idle:.2f} ({later * 1000:.0f} / {idle * 1000:.0f} ms)",
        "≤ 3",
        later <= 3 * idle,
    )
    short_idle = statistics.median([(await speak.plain(TINY_REQUEST))[0] for _ in range(5)])
    during = statistics.median([await speak.short_during_long() for _ in range(3)])
    results.add(
        "A 3-word request while a 240-word one speaks: first audio / idle",
        f"{during / short_idle:.2f} ({during * 1000:.0f} / {short_idle * 1000:.0f} ms)",
        "≤ 3",
        during <= 3 * short_idle,
    )
    if args.random_weights:  # temperature 0: the same text gives the same audio
        same = worst <= 0.01
        results.add(
            "Each response under load vs the same text alone: length",
            "the same" if same else f"up to {worst * 1000:.0f} ms apart",
            "same length (±10 ms)",
            same if not args.quantize else f"{'met' if same else 'int8'} (see below)",
        )
        if args.quantize:
            results.add(
                "(int8: the rows of a batch share each layer's activation scale, so a row's "
                "audio is within int8 rounding of its audio alone, and a frame's end-of-speech "
                "call can tip; float32 rows are the same to 1e-7)",
                "",
                "",
                "",
            )


class _Client:
    """Home Assistant's requests, timed."""

    def __init__(self, port: int, voice: str) -> None:
        self.port = port
        self.voice = SynthesizeVoice(name=voice)

    async def plain(
        self, text: str, speaking: asyncio.Event | None = None
    ) -> tuple[float, float, float]:
        """(time to first audio, audio seconds, real-time factor) of one request."""
        async with AsyncTcpClient("127.0.0.1", self.port) as conn:
            started = time.perf_counter()
            await conn.write_event(Synthesize(text, voice=self.voice).event())
            return await self._audio(conn, started, "audio-stop", speaking)

    async def streamed(self, text: str, size: int, pace: float) -> tuple[float, float]:
        """(first delta → first audio, first clause complete → first audio)."""
        clause_end = len(split_text(text)[0])
        async with AsyncTcpClient("127.0.0.1", self.port) as conn:
            await conn.write_event(SynthesizeStart(voice=self.voice).event())
            first_audio: list[float] = []
            reader = asyncio.create_task(self._first_audio(conn, first_audio))
            started = time.perf_counter()
            clause_sent = started
            for index in range(0, len(text), size):
                await conn.write_event(SynthesizeChunk(text[index : index + size]).event())
                if index < clause_end <= index + size:
                    clause_sent = time.perf_counter()
                await asyncio.sleep(pace)
            await conn.write_event(Synthesize(text, voice=self.voice).event())
            await conn.write_event(SynthesizeStop().event())
            await reader
        return first_audio[0] - started, first_audio[0] - clause_sent

    async def _first_audio(self, conn: AsyncTcpClient, out: list[float]) -> None:
        while (event := await conn.read_event()) is not None:
            if event.type == "audio-chunk" and not out:
                out.append(time.perf_counter())
            if event.type in ("synthesize-stopped", "error"):
                return

    async def _audio(
        self, conn: AsyncTcpClient, started: float, end: str, speaking: asyncio.Event | None
    ) -> tuple[float, float, float]:
        first = None
        samples = 0
        rate = 24000
        while (event := await conn.read_event()) is not None:
            if event.type == "audio-chunk":
                first = first or time.perf_counter()
                if speaking is not None:
                    speaking.set()
                rate = event.data.get("rate", rate)
                samples += len(event.payload or b"") // 2
            elif event.type == "error":
                raise RuntimeError(event.data.get("text"))
            elif event.type == end:
                break
        wall = time.perf_counter() - started
        audio = samples / rate
        return (first or time.perf_counter()) - started, audio, audio / wall

    async def describe_during_synthesis(self, text: str, count: int) -> tuple[float, float]:
        long_request = asyncio.create_task(self.plain(text))
        await asyncio.sleep(0.2)
        latencies = []
        for _ in range(count):
            async with AsyncTcpClient("127.0.0.1", self.port) as conn:
                started = time.perf_counter()
                await conn.write_event(Describe().event())
                while (event := await conn.read_event()) is not None and event.type != "info":
                    pass
                latencies.append(time.perf_counter() - started)
            await asyncio.sleep(0.005)
        await long_request
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        return latencies[len(latencies) // 2], p99

    async def concurrent(
        self, texts: list[str], clients: int, rounds: int
    ) -> tuple[float, float, list[float], list[tuple[int, float]], int]:
        """CLIENTS speaking at once, each ROUNDS requests one after the other.

        Client C's request R is texts[(C + R) % len(texts)]: with ROUNDS a multiple of the
        number of texts every client says the same, so all stay busy until the end. Returns
        (wall, audio seconds, first audios, (text index, seconds) of each response, errors).
        """
        ttfas: list[float] = []
        lengths: list[tuple[int, float]] = []
        errors = 0

        async def one(client: int) -> None:
            nonlocal errors
            for r in range(rounds):
                index = (client + r) % len(texts)
                try:
                    first, seconds, _rtf = await self.plain(texts[index])
                except (OSError, RuntimeError):
                    errors += 1
                    continue
                ttfas.append(first)
                lengths.append((index, seconds))

        started = time.perf_counter()
        await asyncio.gather(*(one(c) for c in range(clients)))
        audio = sum(seconds for _index, seconds in lengths)
        return time.perf_counter() - started, audio, ttfas or [0.0], lengths, errors

    async def simultaneous(self, text: str, clients: int) -> list[float]:
        """First audio of CLIENTS sending TEXT at the same moment."""
        outcomes = await asyncio.gather(*(self.plain(text) for _ in range(clients)))
        return [outcome[0] for outcome in outcomes]

    async def short_during_long(self) -> float:
        """First audio of a 3-word request sent once a 240-word one has begun to speak.

        The long one is then abandoned (its client leaves), as a cancelled announcement is.
        """
        speaking = asyncio.Event()
        long_request = asyncio.create_task(self.plain(LONG_REQUEST, speaking))
        await asyncio.wait_for(speaking.wait(), 60)
        await asyncio.sleep(0.5)  # well inside its first sentences
        first_audio = (await self.plain(TINY_REQUEST))[0]
        long_request.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await long_request
        return first_audio


class _InProcess:
    """The same segments through pocket-tts directly: what the server adds is the difference."""

    def __init__(self, args: argparse.Namespace, model: str, voice: str, voices: Path) -> None:
        from wyoming_tts.pocket import model as pocket
        from wyoming_tts.settings import ModelSpec

        self.model = pocket.load_model(
            ModelSpec.parse(model), quantize=args.quantize, threads=args.threads
        )
        path = voices / f"{voice}.wav"
        self.state = (
            self.model.encode_audio(path)
            if path.is_file()
            else self.model.builtin_voice_state(voice)
        )
        self.ttfa(SHORT)  # warm-up

    def ttfa(self, text: str) -> float:
        stop = threading.Event()
        started = time.perf_counter()
        stream = self.model.generate(self.state, text, stop)
        next(iter(stream))
        elapsed = time.perf_counter() - started
        stop.set()
        for _ in stream:
            pass
        return elapsed

    def rtf(self, text: str) -> float:
        """Real-time factor of the whole text in one call: pocket-tts used directly."""
        stop = threading.Event()
        samples = 0
        started = time.perf_counter()
        for frame in self.model.generate(self.state, text, stop):
            samples += frame.numel()
        return samples / self.model.sample_rate / (time.perf_counter() - started)


async def wait_for_port(port: int, server: subprocess.Popen[bytes], timeout: float = 600) -> None:
    """Wait until SERVER opens PORT (which means it is ready); SystemExit if it dies first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(
                "wyoming-tts bench: the server did not start (run it alone to see why)"
            )
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.2)
    raise SystemExit("wyoming-tts bench: the server did not open its port in time")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """The resident memory of process PID, in MB (Linux)."""
    return memory.rss_mb(pid) or float("nan")


def peak_mb(pid: int) -> float:
    """The highest resident memory of process PID so far, in MB (Linux)."""
    return memory.peak_mb(pid) or float("nan")


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} cores)"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()} ({os.cpu_count()} cores)"
