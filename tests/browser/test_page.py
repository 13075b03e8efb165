"""The voice page in a real headless Chromium (Debian's), against the real server as a process.

script/test installs Debian's chromium; Playwright (pinned) drives it. The fake microphone
plays a WAV this test writes. Any console error or page error fails the test.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from tests.conftest import free_port
from wyoming_tts.pocket.random_model import write_voice

ROOT = Path(__file__).parent.parent.parent
SCREENSHOT = ROOT / "docs" / "voice-page.png"


def _chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(path).exists(), "Debian's chromium is missing: script/test installs it"
    return path


@pytest.fixture(scope="module")
def server(tiny: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("page")
    voices = folder / "voices"
    write_voice(voices / "hummer.wav")
    port, web = free_port(), free_port()
    log = (folder / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "wyoming_tts", "--uri", f"tcp://127.0.0.1:{port}",
         "--model", str(tiny["config"]), "--voices-dir", str(voices), "--voice", "hummer",
         "--data-dir", str(folder / "data"), "--web-uri", f"tcp://127.0.0.1:{web}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, (folder / "server.log").read_text()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    yield f"http://127.0.0.1:{web}/"
    process.send_signal(signal.SIGTERM)
    process.wait(20)
    log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    microphone = tmp_path_factory.mktemp("mic") / "mic.wav"
    write_voice(microphone, seconds=6.0)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(),
            args=[
                "--no-sandbox",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={microphone}",
                "--autoplay-policy=no-user-gesture-required",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, server: str) -> Iterator[Page]:
    context = browser.new_context(
        permissions=["microphone"], viewport={"width": 1000, "height": 900}
    )
    page = context.new_page()
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(server)
    expect(page.locator("#voices li[data-voice='hummer']")).to_be_visible(timeout=15_000)
    yield page
    context.close()
    assert errors == [], errors


def test_the_page_loads_with_no_errors_and_is_usable_with_the_keyboard(page: Page) -> None:
    expect(page.locator("h1")).to_have_text("Pocket TTS voices")
    expect(page.locator("#voices li[data-voice='hummer'] .badge.default")).to_be_visible()
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.tagName")
    assert focused in ("BUTTON", "INPUT", "SELECT", "TEXTAREA")
    expect(page.locator("#record")).to_be_visible()  # 127.0.0.1 is a secure context
    shot = page.screenshot(full_page=True)
    if os.environ.get("UPDATE_SCREENSHOT"):
        SCREENSHOT.write_bytes(shot)
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"


def test_upload_a_file_then_delete_it(page: Page, tmp_path: Path) -> None:
    recording = tmp_path / "aunt.wav"
    write_voice(recording, seconds=4.0)
    page.fill("#new-name", "aunt")
    page.set_input_files("#file", str(recording))
    page.click("#upload")
    expect(page.locator("#voices li[data-voice='aunt']")).to_be_visible(timeout=30_000)
    expect(page.locator("#status")).to_have_text("Added aunt.")
    page.click("#voices li[data-voice='aunt'] button:has-text('Delete aunt')")
    expect(page.locator("#voices li[data-voice='aunt']")).to_have_count(0, timeout=15_000)


def test_a_voices_speech_rate_is_set_with_its_slider(page: Page) -> None:
    rate = page.get_by_label("Speech rate of hummer")
    expect(rate).to_have_value("1")
    rate.focus()
    for _ in range(2):  # the keyboard moves it step by step; each is saved, focus kept
        page.keyboard.press("ArrowRight")
    expect(page.locator("#status")).to_have_text("Speech rate of hummer saved.")
    expect(page.get_by_label("Speech rate of hummer")).to_have_value("1.1")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == (
        "Speech rate of hummer"
    )
    page.get_by_label("Speech rate of hummer").fill("1.2")
    expect(page.locator("#status")).to_have_text("Speech rate of hummer saved.")
    expect(page.get_by_label("Speech rate of hummer")).to_have_value("1.2")
    expect(page.locator("#voices li[data-voice='hummer']")).to_contain_text("Rate 1.20×")
    page.get_by_label("Speech rate of hummer").fill("1")
    expect(page.get_by_label("Speech rate of hummer")).to_have_value("1")


def test_record_from_the_microphone(page: Page) -> None:
    page.fill("#new-name", "mic")
    page.click("#record")
    expect(page.locator("#record")).to_have_text("Stop recording")
    page.wait_for_timeout(2500)
    page.click("#record")
    expect(page.locator("#voices li[data-voice='mic']")).to_be_visible(timeout=30_000)
    page.click("#voices li[data-voice='mic'] button:has-text('Delete mic')")
    expect(page.locator("#voices li[data-voice='mic']")).to_have_count(0, timeout=15_000)


def test_play_a_test_sentence_and_see_the_spoken_text(page: Page) -> None:
    page.fill("#test-text", "It is 21.5 °C in the kitchen, and the door is locked.")
    page.click("#show-text")
    expect(page.locator("#segments li").first).to_contain_text("twenty-one point five degrees")
    page.click("#speak")
    page.wait_for_function("document.getElementById('player').duration > 0", timeout=30_000)
    expect(page.locator("#stats tr").first).to_be_visible(timeout=10_000)


def test_phone_width(browser: Browser, server: str) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(server)
    expect(page.locator("#voices li[data-voice='hummer']")).to_be_visible(timeout=15_000)
    width = page.evaluate("document.documentElement.scrollWidth")
    context.close()
    assert width <= 375  # nothing wider than the phone
    assert errors == []  # the page at phone width logs no error either
