"""`wyoming-tts health`: exit 0 when the server answers Describe with Info (Docker health check)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from urllib.parse import urlparse

from wyoming.client import AsyncClient
from wyoming.info import Describe, Info


async def check(uri: str, timeout: float) -> bool:
    """True when URI answers a Describe with an Info that lists a TTS program."""
    async with asyncio.timeout(timeout):
        async with AsyncClient.from_uri(uri) as client:
            await client.write_event(Describe().event())
            while (event := await client.read_event()) is not None:
                if Info.is_type(event.type):
                    return bool(Info.from_event(event).tts)
    return False


def default_uri(environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    """Where the server of this host listens: its WYOMING_TTS_URI, on loopback."""
    uri = environ.get("WYOMING_TTS_URI") or "tcp://0.0.0.0:10200"
    parsed = urlparse(uri)
    if parsed.scheme != "tcp" or parsed.port is None:
        return uri
    host = parsed.hostname or ""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "[::1]"
    elif ":" in host:
        host = f"[{host}]"
    return f"tcp://{host}:{parsed.port}"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wyoming-tts health", description=__doc__)
    parser.add_argument(
        "--uri", default=default_uri(), help="default: WYOMING_TTS_URI, on loopback"
    )
    parser.add_argument("--timeout", type=float, default=10.0)
    args = parser.parse_args(argv)
    try:
        healthy = asyncio.run(check(args.uri, args.timeout))
    except (OSError, TimeoutError) as err:
        print(f"unhealthy: {err or type(err).__name__}", file=sys.stderr)
        return 1
    if not healthy:
        print("unhealthy: no text-to-speech program in the answer", file=sys.stderr)
    return 0 if healthy else 1
