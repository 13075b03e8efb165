"""The Home Assistant app and the Docker images, checked statically (no Docker engine here)."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import free_port
from wyoming_tts.commands.app import CHECKS, AppOptionsError, server_arguments
from wyoming_tts.settings import build_parser, parse_settings

ROOT = Path(__file__).parent.parent
ADDON = ROOT / "addon"

# The keys the Supervisor's app schema accepts (supervisor/addons/validate.py).
SUPERVISOR_KEYS = {
    "name", "version", "slug", "description", "arch", "machine", "url", "startup", "boot",
    "init", "advanced", "stage", "ports", "ports_description", "webui", "ingress",
    "ingress_port", "ingress_entry", "ingress_stream", "panel_icon", "panel_title",
    "panel_admin", "homeassistant", "host_network", "host_pid", "host_ipc", "host_uts",
    "host_dbus", "devices", "udev", "tmpfs", "map", "environment", "privileged", "apparmor",
    "full_access", "audio", "video", "gpio", "usb", "uart", "devicetree", "kernel_modules",
    "realtime", "hassio_api", "hassio_role", "homeassistant_api", "stdin", "legacy",
    "docker_api", "auth_api", "services", "discovery", "backup_exclude", "backup_pre",
    "backup_post", "restore_pre", "restore_post", "backup", "options", "schema", "image",
    "ulimits", "timeout", "journald", "breaking_versions",
}  # fmt: skip
DEPRECATED_KEYS = {"watchdog", "codenotary", "build_from", "snapshot_exclude", "auto_uart"}
SCHEMA_TYPE = re.compile(
    r"(str|bool|email|url|port|password|int(\(-?\d*,-?\d*\))?|float(\([\d.-]*,[\d.-]*\))?"
    r"|match\(.+\)|list\([^)]+\)|device(\(.*\))?)\??"
)


def _config() -> dict:
    return yaml.safe_load((ADDON / "config.yaml").read_text(encoding="utf-8"))


def _cli_flags() -> set[str]:
    result = subprocess.run(
        [sys.executable, "-m", "wyoming_tts", "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    return set(re.findall(r"(--[a-z][a-z-]+)", result.stdout))


def test_config_uses_only_keys_the_supervisor_accepts() -> None:
    config = _config()
    assert set(config) <= SUPERVISOR_KEYS
    assert not set(config) & DEPRECATED_KEYS
    assert not (ADDON / "build.yaml").exists()
    assert config["arch"] == ["aarch64", "amd64"]
    assert config["init"] is True  # the Supervisor's init is PID 1; `wyoming-tts app` its child
    assert config["discovery"] == ["wyoming"]
    # no host port unless the user sets one: Wyoming, and the web port for the speech API
    assert config["ports"] == {"10200/tcp": None, "8099/tcp": None}
    assert "10200/tcp" in config["ports_description"]
    assert {"type": "addon_config", "read_only": False} in config["map"]
    assert {"type": "share", "read_only": True} in config["map"]
    assert re.fullmatch(r"ghcr\.io/[\w-]+/\{arch\}-app-[\w-]+", config["image"])
    assert config["ingress"] is True and config["ingress_port"] == 8099
    assert config["panel_icon"].startswith("mdi:")
    assert config["backup_exclude"]
    assert re.fullmatch(r"[a-z0-9_]+", config["slug"])


def test_every_option_has_a_schema_a_translation_a_doc_and_a_flag() -> None:
    config = _config()
    schema = config["schema"]
    translations = yaml.safe_load((ADDON / "translations" / "en.yaml").read_text())
    docs = (ADDON / "DOCS.md").read_text(encoding="utf-8")
    expected = {"voice", "model", "quantize", "threads", "max_batch", "sentence_silence",
                "volume", "speed", "loudness_match", "max_text_chars", "hf_token",
                "api_token", "debug_logging"}  # fmt: skip
    assert set(schema) == expected
    assert set(config["options"]) <= set(schema)
    for name, kind in schema.items():
        assert SCHEMA_TYPE.fullmatch(str(kind).strip()), (name, kind)
        if not str(kind).endswith("?"):
            assert name in config["options"], f"required option {name} has no default"
        entry = translations["configuration"][name]
        assert entry["name"] and entry["description"]
        assert f"### Option: `{name}`" in docs
        assert name in CHECKS, f"the app command ignores {name}"
    assert translations["network"] == config["ports_description"]


def test_docs_are_worded_like_the_translations() -> None:
    translations = yaml.safe_load((ADDON / "translations" / "en.yaml").read_text())
    docs = " ".join((ADDON / "DOCS.md").read_text(encoding="utf-8").split())
    for name, entry in translations["configuration"].items():
        first_sentence = " ".join(entry["description"].split()).split(". ")[0]
        assert first_sentence in docs, name


def test_model_choices_are_real_pocket_tts_models() -> None:
    from wyoming_tts.pocket.model import builtin_model_names

    choices = re.fullmatch(r"list\((.*)\)", _config()["schema"]["model"].strip())
    assert choices is not None
    assert set(choices[1].split("|")) - {"auto"} <= set(builtin_model_names())
    assert _config()["options"]["model"] in choices[1].split("|")


def test_app_options_map_to_flags(tmp_path: Path) -> None:
    voices = (tmp_path,)
    full, env = server_arguments(
        {"voice": "marius", "model": "english_18m_2026-10", "quantize": "on", "threads": 2,
         "max_batch": 2, "sentence_silence": 0.3, "volume": 1.5, "speed": 1.2,
         "loudness_match": False, "max_text_chars": 2000,
         "hf_token": "hf_secret", "api_token": "a-long-random-token-1", "debug_logging": True},
        voices_dirs=voices,
    )  # fmt: skip
    assert full == [
        "--uri", "tcp://0.0.0.0:10200", "--data-dir", "/data", "--model", "english_18m_2026-10",
        "--web-uri", "tcp://0.0.0.0:8099", "--web-allow", "172.30.32.2",
        "--voices-dir", str(tmp_path), "--voice", "marius", "--quantize", "--threads", "2",
        "--max-batch", "2", "--sentence-silence", "0.3", "--volume", "1.5", "--speed", "1.2",
        "--max-text-chars", "2000", "--no-loudness-match", "--debug",
    ]  # fmt: skip
    # the token in the environment (not in the process list): the web port's --web-token twin
    assert env == {"HF_TOKEN": "hf_secret", "WYOMING_TTS_WEB_TOKEN": "a-long-random-token-1"}

    defaults, env = server_arguments(dict(_config()["options"]))
    assert defaults == [
        "--uri", "tcp://0.0.0.0:10200", "--data-dir", "/data", "--model", "auto",
        "--web-uri", "tcp://0.0.0.0:8099", "--web-allow", "172.30.32.2",
        "--threads", "1", "--max-batch", "4", "--sentence-silence", "0", "--volume", "1",
        "--speed", "1", "--max-text-chars", "10000",
    ]  # fmt: skip
    assert env == {}
    off, _ = server_arguments({**_config()["options"], "quantize": "off"})
    assert "--no-quantize" in off
    for argv in (full, defaults, off):
        settings = parse_settings(argv, {})  # the real parser accepts every command line
    assert settings.models[0].source == "auto"


def test_every_option_of_the_app_reaches_the_server() -> None:
    config = _config()
    assert set(CHECKS) == set(config["schema"])
    samples = {"model": "english_2m_2026-10", "voice": "alba", "quantize": "on", "threads": 3,
               "max_batch": 1,
               "sentence_silence": 0.7, "volume": 0.5, "speed": 0.8, "loudness_match": False,
               "max_text_chars": 500,
               "hf_token": "t", "api_token": "a-long-random-token-1",
               "debug_logging": True}  # fmt: skip
    baseline, _ = server_arguments({})
    for name, value in samples.items():
        argv, env = server_arguments({name: value})
        assert argv != baseline or env, f"option {name} changes nothing"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"modle": "english"}, "Unknown option 'modle'"),
        ({"threads": 9}, "'threads' must be a whole number from 1 to 4"),
        ({"threads": True}, "'threads' must be a whole number"),
        ({"volume": "loud"}, "'volume' must be a number"),
        ({"quantize": "maybe"}, "'quantize' must be one of auto, on, off"),
        ({"debug_logging": "yes"}, "'debug_logging' must be true or false"),
        ({"api_token": "short"}, "'api_token' must be at least 16 characters"),
    ],
)
def test_bad_app_options_are_one_clear_sentence(options: dict, message: str) -> None:
    with pytest.raises(AppOptionsError, match=message):
        server_arguments(options)


def test_the_app_command_refuses_bad_options_at_start(tmp_path: Path) -> None:
    options = tmp_path / "options.json"
    options.write_text(json.dumps({**_config()["options"], "colour": "blue"}))
    result = subprocess.run(
        [sys.executable, "-m", "wyoming_tts", "app", "--options", str(options)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("wyoming-tts app: error: Unknown option 'colour'")
    assert "Traceback" not in result.stderr


def _shell_scripts() -> list[Path]:
    scripts = [*sorted((ROOT / "script").iterdir()), ROOT / ".ci" / "run"]
    scripts.append(ROOT / "docker" / "entrypoint.sh")
    return scripts


def test_shellcheck_passes_on_every_shell_script() -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is missing: script/test installs it (Debian package)"
    result = subprocess.run(
        [shellcheck, "--shell=bash", "--external-sources", *map(str, _shell_scripts())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_versions_agree() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert _config()["version"] == version
    changelog = (ADDON / "CHANGELOG.md").read_text()
    assert re.search(r"^## (\S+)", changelog, re.M)[1] == version  # type: ignore[index]
    assert re.search(r"^## (\S+)", (ROOT / "CHANGELOG.md").read_text(), re.M)[1] == version  # type: ignore[index]
    for dockerfile in (ROOT / "Dockerfile", ADDON / "Dockerfile"):
        assert f"ARG WYOMING_TTS_VERSION={version}" in dockerfile.read_text()
    compose = yaml.safe_load((ROOT / "config" / "docker-compose.yml").read_text())
    assert compose["services"]["wyoming-tts"]["image"].endswith(f":{version}")


@pytest.mark.parametrize("dockerfile", [ROOT / "Dockerfile", ADDON / "Dockerfile"])
def test_dockerfiles_pin_what_they_install_and_check_health(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    assert re.search(r"^FROM \$\{BUILD_FROM\}$", text, re.M)  # a builder may name its own
    base = re.search(r"^ARG BUILD_FROM=(\S+)", text, re.M)
    assert base and re.search(r":\S*\d+\.\d+", base[1]) and "latest" not in base[1]
    assert "torch==${TORCH_VERSION}" in text and "ARG TORCH_VERSION=2.13.0" in text
    # never the multi-GB CUDA build: PyTorch's CPU index unless the builder names another
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in text
    assert (
        '--no-deps \\\n        --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"' in text
    )
    assert "torchao" not in text
    assert "--constraint /tmp/constraints.txt" in text
    assert "https://github.com" not in text  # never a source archive
    healthcheck = re.search(r"^HEALTHCHECK .*?CMD (.+?)$", text, re.M | re.S)
    assert healthcheck and "wyoming-tts health" in text
    assert "/data" in text


def test_the_app_image_is_one_process_on_the_standalone_images_base() -> None:
    text = (ADDON / "Dockerfile").read_text()
    standalone = (ROOT / "Dockerfile").read_text()
    base = re.compile(r"^ARG BUILD_FROM=(\S+)$", re.M)
    assert base.search(text)[1] == base.search(standalone)[1]  # type: ignore[index]
    assert "libgomp1" in text and "s6-overlay" not in text and "bashio::" not in text
    assert re.search(r'^CMD \["wyoming-tts", "app"\]$', text, re.M)
    assert not (ADDON / "rootfs").exists()
    assert not re.search(r"^(USER|ENTRYPOINT)", text, re.M)  # root, as the Supervisor's /data


def test_the_constraints_pin_every_dependency_but_torch() -> None:
    lines = [
        line
        for line in (ADDON / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    names = {re.split(r"==", line)[0].lower().replace("_", "-") for line in lines}
    assert all("==" in line for line in lines)
    assert {"pocket-tts", "wyoming", "num2words", "sentence-stream", "numpy"} <= names
    assert "torch" not in names and "torchao" not in names and "wyoming-tts" not in names


def test_standalone_image_runs_as_a_user_and_whitelists_its_context() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["docker-entrypoint.sh"\]', text, re.M)
    assert re.search(r"^USER wyoming$", text, re.M)
    assert re.search(r"^ARG BUILD_FROM=python:3\.13-\S*trixie", text, re.M)  # trixie, 3.13
    assert "WYOMING_TTS_URI=tcp://0.0.0.0:10200" in text  # a default, not a flag
    assert re.search(r"CMD wyoming-tts health \|\|", text)  # the port comes from the variable
    assert "VOLUME /data" in text
    ignore = (ROOT / ".dockerignore").read_text().split("\n")
    assert "*" in ignore and "!wyoming_tts/" in ignore
    assert "!addon/constraints.txt" in ignore and "!docker/entrypoint.sh" in ignore


def _entrypoint(tmp_path: Path, *args: str, **env: str) -> dict:
    """Run docker/entrypoint.sh with a stand-in `wyoming-tts` that reports what it got."""
    stub_bin = tmp_path / "bin"
    stub_bin.mkdir(exist_ok=True)
    stub = stub_bin / "wyoming-tts"
    stub.write_text(
        f"#!{sys.executable}\nimport json, os, sys\nprint(json.dumps({{'argv': sys.argv[1:], "
        "'env': {k: v for k, v in os.environ.items() if k.startswith('WYOMING_TTS_')}}))\n"
    )
    stub.chmod(0o755)
    result = subprocess.run(
        [str(ROOT / "docker" / "entrypoint.sh"), *args],
        capture_output=True,
        text=True,
        env={"PATH": f"{stub_bin}:{os.environ['PATH']}", **env},
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_entrypoint_runs_the_server_with_environment_twins(tmp_path: Path) -> None:
    got = _entrypoint(tmp_path, WYOMING_TTS_URI="tcp://0.0.0.0:10300", WYOMING_TTS_VOICE="eve")
    assert got["argv"] == []  # nothing forced: the variables decide
    assert got["env"] == {"WYOMING_TTS_URI": "tcp://0.0.0.0:10300", "WYOMING_TTS_VOICE": "eve"}
    assert _entrypoint(tmp_path, "--voice", "marius")["argv"] == ["--voice", "marius"]
    assert _entrypoint(tmp_path, "download", "--model", "english")["argv"] == [
        "download",
        "--model",
        "english",
    ]
    assert _entrypoint(tmp_path, "wyoming-tts", "health")["argv"] == ["health"]
    env = {k: v for k, v in os.environ.items() if k.startswith("WYOMING_TTS_")}
    parsed = parse_settings([], {**env, "WYOMING_TTS_URI": "tcp://0.0.0.0:10300"})
    assert parsed.uri == "tcp://0.0.0.0:10300"


async def test_entrypoint_health_reads_the_port_from_the_environment(
    fake_server: tuple, tmp_path: Path
) -> None:
    import asyncio

    app, _ = fake_server
    port = app.settings.uri.rsplit(":", 1)[1]
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "WYOMING_TTS_URI": f"tcp://0.0.0.0:{port}",
    }
    process = await asyncio.create_subprocess_exec(
        str(ROOT / "docker" / "entrypoint.sh"), "health", env=env
    )
    assert await asyncio.wait_for(process.wait(), 60) == 0
    env["WYOMING_TTS_URI"] = f"tcp://0.0.0.0:{free_port()}"  # nobody there
    process = await asyncio.create_subprocess_exec(
        str(ROOT / "docker" / "entrypoint.sh"),
        "health",
        "--timeout",
        "2",
        env=env,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await asyncio.wait_for(process.wait(), 60) == 1


def test_no_other_file_looks_like_an_app_config() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    names = [p for p in tracked if Path(p).name in ("config.yaml", "config.yml", "config.json")]
    assert names == ["addon/config.yaml"]
    assert (ROOT / "repository.yaml").is_file()
    assert (ADDON / "icon.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (ADDON / "logo.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_example_environment_lists_every_variable() -> None:
    text = (ROOT / "config" / "wyoming-tts.env").read_text()
    for flag, variable in build_parser().twins().items():
        assert f"{variable}=" in text, flag


class _StandInSupervisor(http.server.BaseHTTPRequestHandler):
    """The Supervisor's discovery API as the app sees it: records each POST, answers as it does."""

    received: list[dict] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append(
            {"path": self.path, "auth": self.headers.get("Authorization"), "body": json.loads(body)}
        )
        ok = self.status == 200
        answer = json.dumps(
            {"result": "ok", "data": {"uuid": "abc"}}
            if ok
            else {"result": "error", "message": "no"}
        ).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def _supervisor(status: int = 200) -> Iterator[tuple[str, list[dict]]]:
    handler = type("Handler", (_StandInSupervisor,), {"received": [], "status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.received
    finally:
        server.shutdown()
        thread.join(5)


def test_the_app_serves_and_sends_the_supervisor_its_discovery(
    tiny: dict[str, Path], tmp_path: Path
) -> None:
    """`wyoming-tts app` outside a container, with the Supervisor's places and a stand-in."""
    data, config, share = tmp_path / "data", tmp_path / "config", tmp_path / "share"
    for folder in (data, config / "voices", share):
        folder.mkdir(parents=True)
    shutil.copy(tiny["voices"] / "hummer.wav", config / "voices" / "hummer.wav")
    options = {**_config()["options"], "model": str(tiny["config"]), "voice": "hummer"}
    (data / "options.json").write_text(json.dumps(options))
    port, ingress = free_port(), free_port()
    with _supervisor() as (url, received):
        command = [sys.executable, "-m", "wyoming_tts", "app", "--data-dir", str(data),
                   "--config-dir", str(config), "--share-dir", str(share), "--port", str(port),
                   "--ingress-port", str(ingress), "--supervisor", url]  # fmt: skip
        env = {**os.environ, "SUPERVISOR_TOKEN": "token-of-the-app"}
        process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while not received and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            assert received, "no discovery reached the Supervisor"
            with socket.create_connection(("127.0.0.1", port), 5):
                pass  # the port was open when the discovery left
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert received == [{
        "path": "/discovery",
        "auth": "Bearer token-of-the-app",
        "body": {"service": "wyoming", "config": {"uri": f"tcp://{socket.gethostname()}:{port}"}},
    }]  # fmt: skip
    assert (data / "voice-states").is_dir()  # the app's state under its /data
    assert "Sent discovery information to Home Assistant" in stderr


async def test_a_supervisor_that_refuses_is_retried_then_logged_never_fatal(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from wyoming_tts.server import supervisor

    monkeypatch.delenv("SUPERVISOR_TOKEN", raising=False)
    assert await supervisor.announce(10200, "http://127.0.0.1:9") is False
    assert "No SUPERVISOR_TOKEN" in caplog.text
    monkeypatch.setenv("SUPERVISOR_TOKEN", "t")
    with _supervisor(status=401) as (url, received):
        assert await supervisor.announce(10200, url, retry_seconds=0) is False
    assert len(received) == supervisor.ATTEMPTS
    assert "Discovery message to Home Assistant failed: the Supervisor answered 401" in caplog.text


@pytest.mark.parametrize("dockerfile", [ROOT / "Dockerfile", ADDON / "Dockerfile"])
def test_images_compile_only_what_the_server_imports(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    installs = re.findall(r"pip install [^\n]*", text)
    assert installs and all("--no-compile" in line for line in installs)
    assert "pip uninstall --yes --quiet sympy mpmath networkx" in text
    assert text.index("pip uninstall") < text.index("python -m wyoming_tts.bytecode")
    assert "apt-get clean" in text


def test_the_bytecode_step_imports_every_module_it_names() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from wyoming_tts import bytecode; "
         "[__import__(m) for m in bytecode.MODULES]; "
         "print(sorted({'sympy', 'networkx', 'mpmath'} & set(sys.modules)))"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"  # what the images remove is never imported
