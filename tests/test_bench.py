"""`wyoming-tts bench` runs end to end on a tiny model (a smoke test; speed is not asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_bench_prints_the_table(tiny: dict[str, Path]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "wyoming_tts", "bench", "--model", str(tiny["config"]),
         "--runs", "2", "--requests", "21", "--describes", "5", "--clients", "1,2,4",
         "--rounds", "1"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    table = result.stdout
    for row in ("P1 time to first audio", "P2 real-time factor", "P3 streamed reply",
                "P4 Describe latency", "P5 server memory", "1 client(s) at once",
                "2 client(s) at once", "4 client(s) at once", "4 clients: slowest first audio",
                "The later of two simultaneous clients", "A 3-word request while",
                ):  # fmt: skip
        assert f"| {row}" in table, row
    assert "0 errors" in table and "CPU:" in table and "--max-batch 4" in table


@pytest.mark.slow
def test_bench_measures_rows_per_batch(tiny: dict[str, Path]) -> None:
    result = _bench_scenario(tiny, "--batch-sizes", "1,2", "--seconds", "1")
    rows = [line for line in result.stdout.splitlines() if line.startswith("| 1 |")]
    rows += [line for line in result.stdout.splitlines() if line.startswith("| 2 |")]
    assert len(rows) == 2, result.stdout
    assert all("real time" in row and "median" in row for row in rows)


def test_random_weights_config_is_the_full_size_architecture(tmp_path: Path) -> None:
    import yaml
    from pocket_tts.utils.config import CONFIGS_DIR

    from wyoming_tts.pocket.random_model import random_weights_config

    path = random_weights_config("english_2m_2026-10", tmp_path)
    made = yaml.safe_load(path.read_text())
    real = yaml.safe_load((CONFIGS_DIR / "english_2m_2026-10.yaml").read_text())
    assert "weights_path" not in made
    assert made["flow_lm"]["transformer"] == real["flow_lm"]["transformer"]
    assert made["mimi"]["seanet"] == real["mimi"]["seanet"]
    assert Path(made["flow_lm"]["lookup_table"]["tokenizer_path"]).is_file()
    with pytest.raises(ValueError, match="Unknown model"):
        random_weights_config("klingon", tmp_path)


@pytest.mark.slow
def test_bench_measures_a_new_voice_while_others_speak(tiny: dict[str, Path]) -> None:
    result = _bench_scenario(tiny, "--new-voice", "2")
    assert "| 2 speak, a new voice asked for: listeners' worst silence" in result.stdout
    assert "| The third request's first audio, new voice / default voice" in result.stdout


def test_worst_silence_is_the_longest_gap_a_listener_hears() -> None:
    from wyoming_tts.commands.bench_voice import worst_silence

    # 0.1 s chunks: the second arrives in time, the third 0.3 s after the second ended.
    assert worst_silence([(0.0, 0.1), (0.05, 0.1), (0.5, 0.1), (0.55, 0.1)]) == pytest.approx(0.3)
    assert worst_silence([]) == 0.0


@pytest.mark.slow
def test_bench_compares_the_speech_api_with_wyoming(tiny: dict[str, Path]) -> None:
    result = _bench_scenario(tiny, "--http", "--runs", "3")
    assert "| First byte over HTTP / first audio over Wyoming" in result.stdout
    assert "| Audio per wall second, HTTP / Wyoming" in result.stdout


@pytest.mark.slow
def test_bench_measures_speech_rates(tiny: dict[str, Path]) -> None:
    result = _bench_scenario(tiny, "--rates", "--runs", "2")
    for rate in ("1", "0.8", "1.3"):
        assert f"| Rate {rate}: first audio |" in result.stdout
        assert f"| Rate {rate}: audio per wall second, heard / as the model made it |" in (
            result.stdout
        )


@pytest.mark.slow
def test_bench_measures_the_audio_cache(tiny: dict[str, Path]) -> None:
    result = _bench_scenario(tiny, "--cache", "--runs", "3")
    assert "| First audio, a repeated text (from the cache, median of 3) |" in result.stdout


def _bench_scenario(tiny: dict[str, Path], *flags: str) -> subprocess.CompletedProcess[str]:
    """`wyoming-tts bench` on the tiny model with FLAGS, as a user runs it; it must succeed."""
    result = subprocess.run(
        [sys.executable, "-m", "wyoming_tts", "bench", "--model", str(tiny["config"]), *flags],
        capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result
