"""The `wyoming-tts` command as a subprocess, as a user or the Home Assistant app runs it."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from wyoming.client import AsyncTcpClient
from wyoming.tts import Synthesize
from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

from tests.conftest import audio_bytes, free_port, read_until
from wyoming_tts.commands.bench import wait_for_port
from wyoming_tts.server.discovery import SERVICE_TYPE, DiscoveryError, announce_address

COMMAND = [sys.executable, "-m", "wyoming_tts"]


def _start(args: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [*COMMAND, *args, "--data-dir", str(tmp_path / "data")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


async def _browse(name: str, timeout_ms: int = 3000) -> AsyncServiceInfo | None:
    zeroconf = AsyncZeroconf(interfaces=["127.0.0.1"])
    try:
        info = AsyncServiceInfo(SERVICE_TYPE, f"{name}.{SERVICE_TYPE}")
        found = await info.async_request(zeroconf.zeroconf, timeout_ms)
        return info if found else None
    finally:
        await zeroconf.async_close()


@pytest.mark.slow
async def test_cli_serves_announces_and_stops_on_sigterm(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    port = free_port()
    name = f"wyoming-tts-test-{port}"
    process = _start(
        [
            "--uri", f"tcp://127.0.0.1:{port}",
            "--model", str(tiny["config"]),
            "--voices-dir", str(tiny["voices"]),
            "--voice", "hummer",
            "--zeroconf", name,
        ],
        tmp_path,
    )  # fmt: skip
    try:
        await wait_for_port(port, process, timeout=90)
        async with AsyncTcpClient("127.0.0.1", port) as conn:
            await conn.write_event(Synthesize("Hello from the command line.").event())
            events = await read_until(conn, "audio-stop", timeout=30)
        assert events[0].type == "audio-start" and events[-1].type == "audio-stop"
        assert audio_bytes(events) > 0

        info = await _browse(name)
        assert info is not None, "the service was not announced"
        assert info.parsed_addresses() == ["127.0.0.1"] and info.port == port

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
        assert await _browse(name, 1500) is None, "still announced after shutdown"
        output = process.stdout.read() if process.stdout else ""
        assert "Ready: serving on" in output and "Stopped" in output
        assert "Traceback" not in output
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_bad_model_exits_with_one_clear_sentence(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("flow_lm: [this is not a config\n")
    for model, expected in (
        (str(broken), "Could not load model"),
        (str(tmp_path / "missing.yaml"), "Could not load model"),
        ("klingon", "Unknown model 'klingon'"),
    ):
        result = subprocess.run(
            [*COMMAND, "--model", model, "--data-dir", str(tmp_path / "data")],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        assert result.returncode == 1
        assert expected in result.stderr
        assert "Traceback" not in result.stderr


def test_bad_flag_value_exits_2_with_a_sentence() -> None:
    result = subprocess.run(
        [*COMMAND, "--threads", "0"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "--threads must be between 1 and 64" in result.stderr


def test_version() -> None:
    result = subprocess.run([*COMMAND, "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.strip()


def test_announced_address_is_never_unspecified() -> None:
    assert announce_address("127.0.0.1") == "127.0.0.1"
    assert announce_address("0.0.0.0", "10.1.2.3") == "10.1.2.3"
    detected = announce_address("0.0.0.0")  # a UDP connect picks a route; nothing is sent
    assert detected not in ("0.0.0.0", "")
    with pytest.raises(DiscoveryError, match=r"must not be 0\.0\.0\.0"):
        announce_address("0.0.0.0", "0.0.0.0")


async def test_health_command(fake_server) -> None:
    app, _model = fake_server
    uri = app.settings.uri

    async def health(target: str) -> int:
        process = await asyncio.create_subprocess_exec(
            *COMMAND, "health", "--uri", target, "--timeout", "5"
        )
        return await asyncio.wait_for(process.wait(), 60)

    assert await health(uri) == 0
    assert await health(f"tcp://127.0.0.1:{free_port()}") == 1
