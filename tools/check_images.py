"""Run the two built images here and check them from the host (script/check-images calls it).

Each image runs with `buildah run` under chroot isolation, so it shares this machine's network:
the checks talk to it over loopback with a real Wyoming client. A tiny random-weight model
(made here, mounted read-only at the same path) stands in for the real one, which cannot be
downloaded on this machine.

    python tools/check_images.py --standalone IMAGE --app IMAGE
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from wyoming.audio import AudioChunk, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize, SynthesizeVoice

from wyoming_tts.pocket.random_model import tiny_config, write_voice

BUILDAH = ["buildah", "--storage-driver", "vfs"]
RUN = [*BUILDAH, "run", "--isolation", "chroot"]
START_SECONDS = 240.0  # torch's import and the tiny model's load, first run of an image
INGRESS_PROXY = "172.30.32.2"  # the app's page answers only the Supervisor's ingress proxy
TOKEN = "check-images-supervisor-token"
APP_OPTIONS_FILE = Path(__file__).resolve().parents[1] / "addon" / "config.yaml"

failures: list[str] = []


def check(what: str, ok: bool, detail: object = "") -> None:
    print(f"  {'ok  ' if ok else 'FAIL'} {what}{f': {detail}' if detail != '' else ''}")
    if not ok:
        failures.append(what)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def container(image: str, *hosts: str) -> Iterator[str]:
    """A working container of IMAGE; HOSTS (name:address) go into its /etc/hosts."""
    extra = [f"--add-host={host}" for host in hosts]
    name = subprocess.run(
        [*BUILDAH, "from", "--pull-never", *extra, image],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    try:
        yield name
    finally:
        subprocess.run([*BUILDAH, "rm", name], capture_output=True, check=False)


def image_config(name: str) -> dict[str, Any]:
    """The container's image configuration (Docker format: ENTRYPOINT, CMD, HEALTHCHECK)."""
    found = subprocess.run([*BUILDAH, "inspect", name], check=True, capture_output=True, text=True)
    return dict(json.loads(found.stdout)["Docker"]["config"])


def image_command(name: str) -> list[str]:
    """The image's ENTRYPOINT then CMD, as a container engine would run them."""
    config = image_config(name)
    return [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]


def health_command(name: str) -> list[str]:
    """The image's HEALTHCHECK command (CMD-SHELL runs in /bin/sh)."""
    test = (image_config(name).get("Healthcheck") or {}).get("Test") or []
    if test[:1] == ["CMD-SHELL"]:
        return ["/bin/sh", "-c", *test[1:]]
    return list(test[1:])


def run_args(volumes: list[str], env: dict[str, str]) -> list[str]:
    args: list[str] = []
    for volume in volumes:
        args += ["-v", volume]
    for key, value in env.items():
        args += ["-e", f"{key}={value}"]
    return args


def wait_port(port: int, process: subprocess.Popen[bytes], seconds: float = START_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return True
        time.sleep(0.5)
    return False


async def describe_and_speak(port: int, voice: str) -> tuple[Info | None, int]:
    """Describe, then speak one sentence: the Info and the number of samples received."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        info: Info | None = None
        while info is None:
            event = await asyncio.wait_for(client.read_event(), 30)
            if event is None:
                return None, 0
            if Info.is_type(event.type):
                info = Info.from_event(event)
        text = "The washing machine has finished."
        await client.write_event(Synthesize(text, voice=SynthesizeVoice(voice)).event())
        samples = 0
        while True:
            event = await asyncio.wait_for(client.read_event(), 60)
            if event is None:
                break
            if AudioChunk.is_type(event.type):
                chunk = AudioChunk.from_event(event)
                samples += len(chunk.audio) // chunk.width
            elif AudioStop.is_type(event.type):
                break
        return info, samples


def voice_names(info: Info | None) -> list[str]:
    if info is None:
        return []
    return [voice.name for program in info.tts for voice in program.voices]


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def server_pids(marker: str) -> list[int]:
    """Processes on this machine whose environment holds MARKER (a container's own)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if marker.encode() in (proc / "environ").read_bytes():
                pids.append(int(proc.name))
    return pids


def check_smoke(name: str) -> None:
    """The release workflow's smoke step (tools/smoke_image.py), as it runs it."""
    tools = Path(__file__).resolve().parent
    result = subprocess.run(
        [*RUN, "-v", f"{tools}:/tools:ro", name, "--", "python", "/tools/smoke_image.py"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    check(
        "the release workflow's smoke step speaks",
        result.returncode == 0,
        result.stdout.strip().splitlines()[-1:],
    )


def check_standalone(image: str, model: dict[str, Path]) -> None:
    print(f"standalone image {image}")
    with container(image) as name:
        command = image_command(name)
        check(
            "the entrypoint is docker-entrypoint.sh",
            command[:1] == ["docker-entrypoint.sh"],
            command,
        )
        user = subprocess.run([*RUN, name, "--", "id", "-un"], capture_output=True, text=True)
        check(
            "it runs as its own user, not root",
            user.stdout.strip() == "wyoming",
            user.stdout.strip(),
        )
        probe = "/data/.write-check"
        wrote = subprocess.run([*RUN, name, "--", "sh", "-c", f"touch {probe} && rm {probe}"])
        check("/data is writable by that user", wrote.returncode == 0)

        port = free_port()
        env = {
            "WYOMING_TTS_URI": f"tcp://127.0.0.1:{port}",
            "WYOMING_TTS_VOICE": "hummer",
            "WYOMING_TTS_MODEL": str(model["config"]),
            "WYOMING_TTS_VOICES_DIR": str(model["voices"]),
            "CHECK_IMAGES": f"standalone-{os.getpid()}",
        }
        volumes = [f"{model['folder']}:{model['folder']}:ro"]
        started = time.monotonic()
        server = subprocess.Popen([*RUN, *run_args(volumes, env), name, "--", *command])
        try:
            up = wait_port(port, server)
            check(
                "the server opens WYOMING_TTS_URI's port", up, f"{time.monotonic() - started:.1f} s"
            )
            if up:
                info, samples = asyncio.run(describe_and_speak(port, "hummer"))
                check(
                    "Describe lists WYOMING_TTS_VOICE",
                    "hummer" in voice_names(info),
                    voice_names(info),
                )
                check(
                    "a tiny random-weight model speaks a sentence",
                    samples > 0,
                    f"{samples} samples",
                )
                probe = health_command(name)
                check(
                    "the image has its HEALTHCHECK", "wyoming-tts health" in " ".join(probe), probe
                )
                health = subprocess.run(
                    [
                        *RUN,
                        *run_args([], {"WYOMING_TTS_URI": env["WYOMING_TTS_URI"]}),
                        name,
                        "--",
                        *probe,
                    ],
                    capture_output=True,
                    text=True,
                    timeout=120,
                )
                check(
                    "`wyoming-tts health` (the HEALTHCHECK) passes",
                    health.returncode == 0,
                    (health.stdout + health.stderr).strip()[-200:],
                )
                states = subprocess.run(
                    [*RUN, name, "--", "ls", "/data"], capture_output=True, text=True
                )
                check(
                    "the server wrote its data to /data",
                    "voice-states" in states.stdout,
                    states.stdout.split(),
                )
                # `docker stop`: SIGTERM to the container's process, which must end cleanly
                for pid in server_pids(env["CHECK_IMAGES"]):
                    os.kill(pid, signal.SIGTERM)
                try:
                    code: int | None = server.wait(30)
                except subprocess.TimeoutExpired:
                    code = None
                check("SIGTERM stops it cleanly, as `docker stop` does", code == 0, f"exit {code}")
        finally:
            stop(server)
        normalized = subprocess.run(
            [*RUN, name, "--", *command, "normalize", "It is 21.5 degrees."],
            capture_output=True,
            text=True,
            timeout=120,
        )
        check(
            "a subcommand runs through the entrypoint (normalize)",
            "twenty-one point five" in normalized.stdout,
            normalized.stdout.strip()[-120:],
        )
        check_smoke(name)


class StandInSupervisor(http.server.BaseHTTPRequestHandler):
    """Records what the app POSTs to http://supervisor/discovery, as the real one receives it."""

    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append(
            {
                "path": self.path,
                "authorization": self.headers.get("Authorization"),
                "body": json.loads(body),
            }
        )
        answer = json.dumps({"result": "ok", "data": {"uuid": "0123abcd"}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


def app_options(model: dict[str, Path], **changes: object) -> dict[str, object]:
    """The app's default options (config.yaml), on the tiny model and its voice."""
    import yaml

    options = dict(yaml.safe_load(APP_OPTIONS_FILE.read_text())["options"])
    options.update(model=str(model["config"]), voice="hummer", **changes)
    return options


def page_status(port: int, source: str) -> tuple[int, str]:
    """GET the voice page on PORT from the address SOURCE: status and a piece of the body."""
    conn = socket.create_connection(("127.0.0.1", port), 10, source_address=(source, 0))
    conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
        if len(data) > 1_000_000:
            break
    conn.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body[:2000].decode(errors="replace")


def check_app(image: str, model: dict[str, Path], work: Path) -> None:
    print(f"app image {image}")
    supervisor = http.server.ThreadingHTTPServer(("127.0.0.1", 80), StandInSupervisor)
    threading.Thread(target=supervisor.serve_forever, daemon=True).start()
    added = (
        subprocess.run(["ip", "addr", "add", f"{INGRESS_PROXY}/32", "dev", "lo"]).returncode == 0
    )
    try:
        # The Supervisor's extra_hosts (supervisor/docker/addon.py): its API by name.
        with container(image, "supervisor:127.0.0.1", "hassio:127.0.0.1") as name:
            command = image_command(name)
            check(
                "the image's command is `wyoming-tts app`",
                command == ["wyoming-tts", "app"],
                command,
            )
            check_app_run(name, command, model, work)
            check_bad_option(name, command, model, work)
            check_smoke(name)
    finally:
        supervisor.shutdown()
        if added:
            subprocess.run(["ip", "addr", "del", f"{INGRESS_PROXY}/32", "dev", "lo"], check=False)


def supervisor_mounts(model: dict[str, Path], work: Path, tag: str) -> list[str]:
    """The Supervisor's mounts for this app (config.yaml's map)."""
    data, config, share = work / f"{tag}-data", work / f"{tag}-config", work / f"{tag}-share"
    for folder in (data, config / "voices", share):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(model["voices"] / "hummer.wav", config / "voices" / "hummer.wav")
    return [
        f"{data}:/data",
        f"{config}:/config",
        f"{share}:/share:ro",
        f"{model['folder']}:{model['folder']}:ro",
    ]


def supervisor_env(marker: str) -> dict[str, str]:
    return {
        "SUPERVISOR_TOKEN": TOKEN,
        "HASSIO_TOKEN": TOKEN,
        "TZ": "Europe/Paris",
        "CHECK_IMAGES": marker,
    }


def check_app_run(name: str, command: list[str], model: dict[str, Path], work: Path) -> None:
    mounts = supervisor_mounts(model, work, "app")
    (work / "app-data" / "options.json").write_text(json.dumps(app_options(model)))
    marker = f"app-{os.getpid()}"
    started = time.monotonic()
    server = subprocess.Popen(
        [*RUN, *run_args(mounts, supervisor_env(marker)), name, "--", *command]
    )
    try:
        up = wait_port(10200, server) and wait_port(8099, server, 30)
        check("the app opens ports 10200 and 8099", up, f"{time.monotonic() - started:.1f} s")
        if not up:
            return
        info, samples = asyncio.run(describe_and_speak(10200, "hummer"))
        check(
            "Describe answers with the app's voice",
            "hummer" in voice_names(info),
            voice_names(info),
        )
        check("the app speaks with the tiny model", samples > 0, f"{samples} samples")
        check("the app wrote its state under /data", (work / "app-data" / "voice-states").is_dir())
        status, body = page_status(8099, INGRESS_PROXY)
        check(
            "the voice page answers the ingress proxy on 8099",
            status == 200 and "<html" in body.lower(),
            status,
        )
        status, _ = page_status(8099, "127.0.0.1")
        check("the voice page refuses any other address", status == 403, status)
        deadline = time.monotonic() + 30
        while not StandInSupervisor.received and time.monotonic() < deadline:
            time.sleep(0.2)
        hostname = subprocess.run(
            [*RUN, name, "--", "hostname"], capture_output=True, text=True
        ).stdout.strip()
        expected = {"service": "wyoming", "config": {"uri": f"tcp://{hostname}:10200"}}
        got = StandInSupervisor.received[:1]
        check(
            "the stand-in Supervisor received the discovery",
            got == [{"path": "/discovery", "authorization": f"Bearer {TOKEN}", "body": expected}],
            got,
        )
        pids = server_pids(marker)
        check("the app is one process", len(pids) == 1, pids)
        if pids:
            os.kill(pids[0], signal.SIGSEGV)  # a crash
            try:
                code = server.wait(30)
            except subprocess.TimeoutExpired:
                code = None
            left = server_pids(marker)
            check(
                "a crash stops the container, nothing left half alive",
                code not in (None, 0) and not left,
                f"exit {code}, left {left}",
            )
    finally:
        stop(server)


def check_bad_option(name: str, command: list[str], model: dict[str, Path], work: Path) -> None:
    mounts = supervisor_mounts(model, work, "bad")
    (work / "bad-data" / "options.json").write_text(json.dumps(app_options(model, threads=99)))
    result = subprocess.run(
        [*RUN, *run_args(mounts, supervisor_env("bad")), name, "--", *command],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # buildah's own lines about the exit status are not the app's
    buildah_says = ("subprocess exited", "Error: exit status")
    lines = [
        line
        for line in result.stderr.splitlines()
        if line.strip() and not line.startswith(buildah_says)
    ]
    check(
        "a bad option stops the app with one sentence",
        result.returncode == 2
        and lines
        == ["wyoming-tts app: error: Option 'threads' must be a whole number from 1 to 4."],
        (result.returncode, lines),
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--standalone", required=True)
    parser.add_argument("--app", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="check-images-") as tmp:
        work = Path(tmp)
        os.chmod(work, 0o755)  # the standalone image's user reads the model from here
        folder = work / "tiny"
        model = {"config": tiny_config(folder), "voices": folder / "voices", "folder": folder}
        write_voice(model["voices"] / "hummer.wav")
        check_standalone(args.standalone, model)
        check_app(args.app, model, work)
    print("all checks passed" if not failures else f"{len(failures)} checks failed: {failures}")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
