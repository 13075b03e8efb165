"""The one request door: voices are made before a request joins the batch, the page's figures
are read safely while requests finish, and the tools show the segments the model is fed."""

from __future__ import annotations

import asyncio
import sys
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
from wyoming.tts import Synthesize, SynthesizeVoice

from tests.conftest import FakeModel, audio_bytes, client, fake_models, free_port, read_until
from tests.conftest import running as running_server
from tests.test_web import call
from wyoming_tts.commands.normalize import spoken_segments
from wyoming_tts.engine.synthesis import Synthesis
from wyoming_tts.pocket.random_model import write_voice
from wyoming_tts.settings import Settings


class SlowEncoder(FakeModel):
    """A fake model whose voice encoding waits until the test releases it."""

    def __init__(self) -> None:
        super().__init__(frames=6)
        self.encoding = threading.Event()
        self.release = threading.Event()
        self.encoder_threads: list[str] = []

    def encode_audio(self, path: Path) -> object:
        self.encoder_threads.append(threading.current_thread().name)
        self.encoding.set()
        self.release.wait(10)
        return super().encode_audio(path)


async def test_a_new_voice_being_encoded_never_stalls_a_request_already_speaking(
    fake_settings: Settings, tmp_path: Path
) -> None:
    """The new voice's encoding holds its own request only: the default voice speaks meanwhile
    (on main the model's worker thread encoded it, and every request waited)."""
    write_voice(tmp_path / "voices" / "newcomer.wav")
    settings = replace(fake_settings, voices_dirs=(tmp_path / "voices",), max_queue=4)
    model = SlowEncoder()
    async with running_server(settings, fake_models(settings, model)) as app:
        async with client(app) as newcomer, client(app) as regular:
            await newcomer.write_event(
                Synthesize("A voice never heard before.", voice=SynthesizeVoice("newcomer")).event()
            )
            assert await asyncio.to_thread(model.encoding.wait, 5)
            try:
                await regular.write_event(Synthesize("The default voice goes on.").event())
                events = await read_until(regular, "audio-stop", timeout=5)
                assert events[-1].type == "audio-stop"
                assert audio_bytes(events) == model.frames * model.frame_samples * 2
                assert not model.release.is_set()  # all of it while the encoding was held
            finally:
                model.release.set()
            events = await read_until(newcomer, "audio-stop", timeout=5)
            assert audio_bytes(events) == model.frames * model.frame_samples * 2
    assert model.encoder_threads and all(
        name.startswith("voice-encoder") for name in model.encoder_threads
    )


async def test_one_voice_asked_for_twice_at_once_is_encoded_once(
    fake_settings: Settings, tmp_path: Path
) -> None:
    write_voice(tmp_path / "voices" / "newcomer.wav")
    settings = replace(fake_settings, voices_dirs=(tmp_path / "voices",), max_queue=4)
    model = SlowEncoder()
    async with running_server(settings, fake_models(settings, model)) as app:
        async with client(app) as first, client(app) as second:
            for conn in (first, second):
                await conn.write_event(
                    Synthesize("Twice at once.", voice=SynthesizeVoice("newcomer")).event()
                )
            assert await asyncio.to_thread(model.encoding.wait, 5)
            await asyncio.sleep(0.05)
            model.release.set()
            for conn in (first, second):
                assert (await read_until(conn, "audio-stop"))[-1].type == "audio-stop"
        assert app.models.states.encodings == 1


async def test_the_pages_figures_are_read_safely_while_requests_finish(
    fake_settings: Settings, tmp_path: Path
) -> None:
    """GET api/stats while a worker thread records finished requests: never a 500 (on main the
    page iterated the worker's deque as it was appended to)."""
    settings = replace(
        fake_settings, web_uri=f"tcp://127.0.0.1:{free_port()}", voices_dirs=(tmp_path,)
    )
    async with running_server(settings, fake_models(settings, FakeModel())) as app:
        done = threading.Event()
        finished = Synthesis("#race", asyncio.get_running_loop())
        finished.stats.first_audio = finished.stats.submitted + 0.01
        finished.stats.samples = 16000

        def record() -> None:
            for _ in range(200_000):  # bounded in count, and stopped when the reader is done
                if done.is_set():
                    return
                app.models._record("en", finished)

        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows
        recorder = threading.Thread(target=record)
        recorder.start()
        try:
            statuses = [(await call(app, "GET", "/api/stats"))[0] for _ in range(150)]
        finally:
            done.set()
            recorder.join(10)
            sys.setswitchinterval(interval)
        assert set(statuses) == {200}


async def test_normalize_shows_exactly_the_segments_the_model_is_fed(
    fake_server: tuple[object, FakeModel],
) -> None:
    app, model = fake_server
    text = (
        "Yes. The kitchen light is on at 21 %. The living room is 19.5 °C, the garage door is "
        "closed, and the robot vacuum finished at 10:30. Anything else I can do for you today?"
    )
    model.texts.clear()  # the warm-up's
    async with client(app) as conn:  # type: ignore[arg-type]
        await conn.write_event(Synthesize(text).event())
        await read_until(conn, "audio-stop")
    options = app.settings.text_options  # type: ignore[attr-defined]
    assert model.texts == spoken_segments(text, "en", options)
    assert len(model.texts) == 2  # a short first segment, then the rest merged


def test_a_voice_may_be_encoded_while_the_same_model_speaks(tiny: dict[str, Path]) -> None:
    """Force the interleaving: pocket-tts's encoder is held mid-encoding while frames of the same
    model are made, then both results equal the same work done alone."""
    import torch
    from pocket_tts import TTSModel

    model = TTSModel.load_model(config=str(tiny["config"]))
    torch.set_num_threads(1)
    voice_file = tiny["voices"] / "hummer.wav"
    other_file = write_voice(tiny["folder"] / "interleaved.wav", seconds=2.5, pitch=160.0)
    voice = model.get_state_for_audio_prompt(voice_file, truncate=True)
    text = "A sentence spoken while another voice is being encoded."
    alone = torch.cat(list(model.generate_audio_stream(voice, text))).numpy()
    encoded_alone = model.get_state_for_audio_prompt(other_file, truncate=True)

    in_encoder = threading.Event()
    frames_made = threading.Event()

    def hold(_module: object, _inputs: object) -> None:
        in_encoder.set()
        assert frames_made.wait(10), "no frames were made while encoding"

    handle = model.mimi.encoder.register_forward_pre_hook(hold)
    result: dict[str, object] = {}
    encoder = threading.Thread(
        target=lambda: result.update(
            state=model.get_state_for_audio_prompt(other_file, truncate=True)
        )
    )
    try:
        frames = []
        stream = model.generate_audio_stream(voice, text)
        encoder.start()
        assert in_encoder.wait(10)
        encoding_while_speaking = False
        for frame in stream:
            frames.append(frame)
            if not frames_made.is_set():  # audio was made with the encoder held mid-call
                encoding_while_speaking = "state" not in result
                frames_made.set()
        frames_made.set()
        encoder.join(30)
    finally:
        frames_made.set()
        handle.remove()
    assert encoding_while_speaking  # audio came out while the encoder was held mid-call
    spoken = torch.cat(frames).numpy()
    # Float32 rounding only. At temperature 0 a random-weight model's end of speech can tip on
    # such rounding (two threads of pocket-tts's own), so the audio both runs made is compared.
    common = min(spoken.size, alone.size)
    assert common >= 3 * 1920 and abs(spoken.size - alone.size) <= 5 * 1920
    np.testing.assert_allclose(spoken[:common], alone[:common], rtol=0, atol=1e-5)
    state = result["state"]
    for module, tensors in encoded_alone.items():
        for name, tensor in tensors.items():
            torch.testing.assert_close(state[module][name], tensor, rtol=0, atol=1e-5)  # type: ignore[index]
