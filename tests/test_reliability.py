"""Overload, disconnects, hostile input, faults, shutdown and soak: each proven on a real socket."""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop

from tests.conftest import (
    FakeModel,
    address,
    audio_bytes,
    client,
    fake_models,
    free_port,
    read_until,
    running,
    with_settings,
)
from wyoming_tts.__main__ import App
from wyoming_tts.commands.bench import rss_mb, wait_for_port
from wyoming_tts.settings import Settings


def _worker(app: App):
    return app.models.worker("en")


def _threads() -> int:
    """Threads other than asyncio's executor pool (which grows on first use, up to a bound)."""
    return sum(1 for t in threading.enumerate() if not t.name.startswith("asyncio_"))


async def _until_free(app: App, timeout: float = 5.0) -> float:
    """Seconds until the worker has nothing running or waiting."""
    started = time.monotonic()
    worker = _worker(app)
    while worker.busy or worker.queued:
        if time.monotonic() - started > timeout:
            raise AssertionError("the worker is still busy")
        await asyncio.sleep(0.002)
    return time.monotonic() - started


async def _served_normally(app: App) -> None:
    async with client(app) as conn:
        await conn.write_event(Synthesize("A normal request after all that.").event())
        events = await read_until(conn, "audio-stop")
    assert events[0].type == "audio-start" and events[-1].type == "audio-stop"
    assert audio_bytes(events) > 0


async def test_100_disconnects_in_a_row_free_the_worker(
    fake_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    model = FakeModel(frames=400, delay=0.005)  # two seconds of work if nobody stops it
    async with running(fake_settings, fake_models(fake_settings, model)) as app:
        await _served_normally(app)
        threads, tasks = _threads(), len(asyncio.all_tasks())
        rng = random.Random(5)
        free_times = []
        for index in range(100):
            moment = rng.choice(["before audio", "mid-stream", "streaming trio"])
            async with client(app) as conn:
                if moment == "streaming trio":
                    await conn.write_event(SynthesizeStart().event())
                    await conn.write_event(SynthesizeChunk("A sentence to stream. And").event())
                else:
                    await conn.write_event(Synthesize(f"Request {index} is here.").event())
                if moment != "before audio":
                    for _ in range(rng.randint(1, 5)):
                        await read_until(conn, "audio-chunk")
            free_times.append(await _until_free(app))
        await asyncio.sleep(0.05)
        assert _threads() <= threads
        assert len(asyncio.all_tasks()) <= tasks
        await _served_normally(app)
    free_times.sort()
    with capsys.disabled():
        print(
            f"\n[disconnects] worker free after a disconnect: median "
            f"{free_times[50] * 1000:.1f} ms, max {free_times[-1] * 1000:.1f} ms"
        )
    assert free_times[-1] < 1.0  # the whole request would have taken 2 s


async def test_idle_and_half_sent_clients_are_dropped(fake_settings: Settings) -> None:
    settings = with_settings(fake_settings, idle_timeout=1.0)
    model = FakeModel()
    async with running(settings, fake_models(settings, model)) as app:
        host, port = address(app)
        for opening in (b"", b'{"type": "synthe', b'{"type": "synthesize", "data_length": 50}\n{'):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(opening)
            await writer.drain()
            async with asyncio.timeout(5):
                assert await reader.read() == b""  # the server closed the connection
            writer.close()
        # A streamed request whose client goes silent is dropped, and its work is cancelled.
        model.gate = threading.Event()
        async with client(app) as conn:
            await conn.write_event(SynthesizeStart().event())
            await conn.write_event(SynthesizeChunk("A sentence that starts. And then ").event())
            await read_until(conn, "audio-chunk")
            async with asyncio.timeout(5):
                while await conn.read_event() is not None:
                    pass
        await _until_free(app)
        model.gate = None
        await _served_normally(app)


HOSTILE = [
    (b"not json at all\n", "not valid JSON"),
    (b"[1, 2, 3]\n", "must be a JSON object"),
    (b'"just a string"\n', "must be a JSON object"),
    (b'{"data": {}}\n', "no valid 'type'"),
    (b'{"type": 5}\n', "no valid 'type'"),
    (b'{"type": ""}\n', "no valid 'type'"),
    (b'{"type": "synthesize", "data": "text"}\n', "'data' must be a JSON object"),
    (b'{"type": "synthesize", "data_length": "abc"}\n', "'data_length' must be a whole number"),
    (b'{"type": "synthesize", "data_length": 1.5}\n', "'data_length' must be a whole number"),
    (b'{"type": "synthesize", "payload_length": -1}\n', "'payload_length' must be a whole"),
    (b'{"type": "synthesize", "data_length": 99999999999}\n', "the limit is 1048576"),
    (b'{"type": "synthesize", "payload_length": 99999999999}\n', "the limit is 1048576"),
    (b'{"type": "synthesize", "data_length": 3}\n[1]', "must be a JSON object"),
    (b'{"type": "synthesize", "data_length": 4}\n\xff\xfe\x00\x01', "not valid JSON"),
    (b'{"type": "synthesize", "data": {"text": 5}}\n', "'text' must be a string"),
    (b'{"type": "synthesize", "data": {"text": "hi", "voice": "alba"}}\n', "'voice' must be"),
    (b'{"type": "synthesize", "data": {"text": "x", "voice": {"name": 7}}}\n', "'voice.name'"),
    (b'{"type": "synthesize-chunk", "data": {"text": ["a"]}}\n', "'text' must be a string"),
    (b"x" * 70_000 + b"\n", "longer than 65536 bytes"),
]


@pytest.mark.parametrize(("raw", "message"), HOSTILE)
async def test_hostile_input_gets_one_clear_error_and_a_closed_connection(
    fake_server: tuple[App, object], raw: bytes, message: str
) -> None:
    app, _model = fake_server
    host, port = address(app)
    async with client(app) as bystander:  # another connection, mid-request, is not affected
        await bystander.write_event(SynthesizeStart().event())
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(5):
            reply = await reader.read()
        writer.close()
        header = json.loads(reply.split(b"\n", 1)[0])
        assert header["type"] == "error"
        data = json.loads(reply.split(b"\n", 1)[1][: header["data_length"]])
        assert data["code"] == "bad-event"
        assert message in data["text"]
        await bystander.write_event(SynthesizeChunk("The bystander is still served.").event())
        await bystander.write_event(SynthesizeStop().event())
        events = await read_until(bystander, "synthesize-stopped")
    assert events[-1].type == "synthesize-stopped" and audio_bytes(events) > 0


async def test_binary_garbage_and_unknown_events(fake_server: tuple[App, object]) -> None:
    app, _model = fake_server
    host, port = address(app)
    rng = random.Random(7)
    for _ in range(20):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(bytes(rng.randrange(256) for _ in range(rng.randint(1, 4000))) + b"\n")
        await writer.drain()
        async with asyncio.timeout(5):
            await reader.read()  # an error, or nothing: never a hang
        writer.close()
    async with client(app) as conn:  # unknown types are ignored; the connection goes on
        await conn.write_event(Event(type="no-such-event", data={"x": 1}))
        await conn.write_event(Event(type="audio-chunk", payload=b"\x00" * 100))
        await conn.write_event(Describe().event())
        assert (await read_until(conn, "info"))[-1].type == "info"
    await _served_normally(app)


async def test_streaming_events_out_of_order(fake_server: tuple[App, object]) -> None:
    app, _model = fake_server
    async with client(app) as conn:  # start twice: the second is ignored
        await conn.write_event(SynthesizeStart().event())
        await conn.write_event(SynthesizeStart().event())
        await conn.write_event(SynthesizeChunk("Only one response comes back.").event())
        await conn.write_event(SynthesizeStop().event())
        events = await read_until(conn, "synthesize-stopped")
        assert [e.type for e in events].count("audio-start") == 1
        await conn.write_event(SynthesizeStop().event())  # stop without start: answered
        assert [e.type for e in await read_until(conn, "synthesize-stopped")] == [
            "synthesize-stopped"
        ]


async def test_text_over_the_limit_gets_an_error_naming_it(fake_settings: Settings) -> None:
    settings = with_settings(fake_settings, max_text_chars=100)
    async with running(settings, fake_models(settings, FakeModel())) as app:
        async with client(app) as conn:
            await conn.write_event(Synthesize("x" * 100).event())
            assert (await read_until(conn, "audio-stop"))[-1].type == "audio-stop"
            await conn.write_event(Synthesize("y" * 101).event())
            events = await read_until(conn, "audio-stop")
            assert events[-1].type == "error"
            assert events[-1].data["code"] == "text-too-long"
            assert "101 characters; the limit is 100" in events[-1].data["text"]
            assert await conn.read_event() is None


def _mutations(rng: random.Random) -> list[bytes]:
    """Serialized events, valid and broken, for the fuzz test."""
    texts = ["Hello there.", "", "Ünïcödé 🎉 21.5 °C", "x" * 300, "[pause 2s] ok", "<break/>"]
    valid = [
        Describe().event(),
        Synthesize(rng.choice(texts)).event(),
        Event("synthesize", {"text": rng.choice(texts), "voice": {"name": "fake"}}),
        Event("synthesize", {"text": "hi", "voice": {"name": "../../etc/passwd"}}),
        SynthesizeStart().event(),
        SynthesizeChunk(rng.choice(texts)).event(),
        SynthesizeStop().event(),
        Event(rng.choice(["ping", "audio-stop", "transcribe", "x" * 80]), {}),
    ]
    out = []
    for _ in range(rng.randint(1, 20)):
        event = rng.choice(valid)
        raw = json.dumps({"type": event.type, "data": event.data}).encode() + b"\n"
        kind = rng.random()
        if kind < 0.6:
            pass
        elif kind < 0.75:
            raw = bytearray(raw)
            for _ in range(rng.randint(1, 5)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            raw = bytes(raw)
        elif kind < 0.85:
            raw = raw[: rng.randrange(1, len(raw))] + b"\n"
        elif kind < 0.95:
            field = rng.choice(["data_length", "payload_length", "type", "data"])
            value = rng.choice([-5, 2**40, "1", None, [], {}, 3.5, True, 10])
            header = {"type": event.type, "data": event.data, field: value}
            raw = json.dumps(header).encode() + b"\n" + b"{}" * rng.randint(0, 6)
        else:
            raw = bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
        out.append(raw)
    return out


@pytest.mark.slow
async def test_fuzz_10000_events(
    fake_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = with_settings(fake_settings, max_queue=2)
    model = FakeModel(frames=2)
    async with running(settings, fake_models(settings, model)) as app:
        host, port = address(app)
        threads = _threads()
        rng = random.Random(20261122)
        sent = connections = 0
        deadline = time.monotonic() + 120
        while sent < 10_000 and time.monotonic() < deadline:
            batch = _mutations(rng)
            reader, writer = await asyncio.open_connection(host, port)
            connections += 1
            try:
                writer.write(b"".join(batch))
                await writer.drain()
                async with asyncio.timeout(0.05 if rng.random() < 0.8 else 0.5):
                    while await reader.read(65536):
                        pass
            except (TimeoutError, ConnectionError):
                pass
            finally:
                writer.close()
            sent += len(batch)
        assert sent >= 10_000, f"only {sent} events in the time allowed"
        await _until_free(app)
        async with client(app) as conn:
            await conn.write_event(Describe().event())
            assert (await read_until(conn, "info", timeout=1.0))[-1].type == "info"
        await _served_normally(app)
        await asyncio.sleep(0.1)
        assert _threads() <= threads
    with capsys.disabled():
        print(f"\n[fuzz] {sent} events on {connections} connections")


async def test_a_full_disk_while_caching_still_serves_the_voice(
    tiny_settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from wyoming_tts.pocket import model as pocket

    def full(state: object, path: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(pocket.PocketModel, "save_state", staticmethod(full))
    settings = tiny_settings
    with caplog.at_level(logging.WARNING):
        async with running(settings) as app:
            await _served_normally(app)
            assert app.models.states.encodings == 1
    assert "No space left on device" in caplog.text
    assert not list((settings.data_dir / "voice-states").glob("*.safetensors"))
    assert not list((settings.data_dir / "voice-states").glob("*.partial"))


async def test_nothing_a_client_sends_reads_writes_or_fetches_outside(
    tiny_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    outside: list[object] = []
    real_connect = socket.socket.connect

    def guarded_connect(sock: socket.socket, target: object) -> object:
        host = target[0] if isinstance(target, tuple) else str(target)
        if isinstance(target, tuple) and host not in ("127.0.0.1", "::1", "localhost"):
            outside.append(target)
            raise OSError("test: no network")
        return real_connect(sock, target)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    settings = tiny_settings
    before = {p for p in tmp_path.rglob("*")}
    async with running(settings) as app:
        hostile = ["https://example.com/v.wav", "hf://kyutai/tts-voices/x.wav", "/etc/passwd",
                   "../../../../etc/shadow", "~/.ssh/id_rsa", "C:\\x.wav"]  # fmt: skip
        for name in hostile:
            async with client(app) as conn:
                await conn.write_event(
                    Event("synthesize", {"text": "Hello.", "voice": {"name": name}})
                )
                assert (await read_until(conn, "audio-stop"))[-1].type == "audio-stop"
        assert app.models.states.encodings == 1  # only the default voice, at start
    created = {p for p in tmp_path.rglob("*")} - before
    assert all(settings.data_dir in p.parents or p == settings.data_dir for p in created)
    assert outside == []


def _server(tiny: dict[str, Path], tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "wyoming_tts", "--uri", f"tcp://127.0.0.1:{port}",
         "--model", str(tiny["config"]), "--voices-dir", str(tiny["voices"]),
         "--voice", "hummer", "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip


async def test_sigint_with_work_in_flight_exits_cleanly(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    port = free_port()
    process = _server(tiny, tmp_path, port)
    try:
        await wait_for_port(port, process, timeout=90)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        long_text = " ".join(f"This is sentence number {i} of a long answer." for i in range(300))
        payload = json.dumps({"text": long_text}).encode()
        writer.write(json.dumps({"type": "synthesize", "data_length": len(payload)}).encode())
        writer.write(b"\n" + payload)
        await writer.drain()
        assert await reader.readline()  # audio has started
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        assert await asyncio.to_thread(process.wait, 10) == 0
        assert time.monotonic() - started < 5
        async with asyncio.timeout(5):
            while await reader.read(65536):
                pass  # the connection ends; no hang
        writer.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.slow
async def test_soak_500_requests_memory_is_flat(
    tiny: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    process = _server(tiny, tmp_path, port)
    try:
        await wait_for_port(port, process, timeout=90)
        rss = {}
        for index in range(1, 501):
            conn = client_for(port)
            async with conn:
                text = f"Request number {index}: the kitchen is at 21.5 °C, and all is well."
                await conn.write_event(Synthesize(text).event())
                assert (await read_until(conn, "audio-stop"))[-1].type == "audio-stop"
            if index in (20, 100, 250, 500):
                rss[index] = rss_mb(process.pid)
        ratio = rss[500] / rss[20]
        with capsys.disabled():
            print(f"\n[soak] RSS MB after requests {rss}; 500th / 20th = {ratio:.3f}")
        assert ratio <= 1.05
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def client_for(port: int):
    from wyoming.client import AsyncTcpClient

    return AsyncTcpClient("127.0.0.1", port)
