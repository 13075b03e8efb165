#!/usr/bin/env python3
"""Compare streaming time-stretchers for the speech rate (the README's "Speech rate" table).

Needs the candidates beside the project: .venv/bin/pip install python-stretch pylibrb
(audiotsm is a dependency already). Frames of 1920 samples at 24 kHz, as Pocket TTS makes them.
"""

# ruff: noqa
import time, numpy as np

SR = 24000
FRAME = 1920


def tone(sec, f=440.0):
    t = np.arange(int(sec * SR)) / SR
    return (0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32)


def chirp(sec, f0=200.0, f1=2000.0):
    t = np.arange(int(sec * SR)) / SR
    k = (f1 - f0) / sec
    return (0.5 * np.sin(2 * np.pi * (f0 * t + k * t * t / 2))).astype(np.float32)


class Signalsmith:
    name = "python-stretch (Signalsmith)"

    def __init__(s, rate):
        import python_stretch as ps

        s.st = ps.Signalsmith.Stretch()
        s.st.preset(1, SR)
        s.st.setTimeFactor(rate)
        s.rate = rate
        s.drop = int(round(s.st.inputLatency() / rate + s.st.outputLatency()))
        s.fed = 0

    def feed(s, x):
        y = s.st.process(x[None, :])[0]
        if s.drop:
            d = min(s.drop, len(y))
            y = y[d:]
            s.drop -= d
        return y

    def finish(s):
        n = s.st.inputLatency() + int(s.st.outputLatency() * s.rate) + FRAME
        return s.feed(np.zeros(n, np.float32))


class Rubber:
    name = "pylibrb (Rubber Band R3 real-time)"

    def __init__(s, rate, finer=True):
        import pylibrb as rb

        O = rb.Option
        opts = (
            O.PROCESS_REALTIME
            | (O.ENGINE_FINER if finer else O.ENGINE_FASTER)
            | O.PitchHighConsistency
        )
        s.st = rb.RubberBandStretcher(SR, 1, opts, 1.0 / rate, 1.0)
        if not finer:
            s.name = "pylibrb (Rubber Band R2 faster)"
        pad = s.st.get_preferred_start_pad()
        s.drop = s.st.get_start_delay()
        if pad:
            s.st.process(np.zeros((1, pad), np.float32))

    def _get(s):
        n = s.st.available()
        y = s.st.retrieve(n)[0] if n > 0 else np.zeros(0, np.float32)
        if s.drop:
            d = min(s.drop, len(y))
            y = y[d:]
            s.drop -= d
        return y

    def feed(s, x):
        s.st.process(np.ascontiguousarray(x[None, :]))
        return s._get()

    def finish(s):
        s.st.process(
            np.zeros((1, 0), np.float32) if False else np.zeros((1, 256), np.float32), final=True
        )
        out = []
        for _ in range(100):
            y = s._get()
            out.append(y)
            if s.st.available() <= 0 and len(y) == 0:
                break
        return np.concatenate(out)


class Wsola:
    name = "audiotsm WSOLA"

    def __init__(s, rate):
        import audiotsm
        from audiotsm.io.array import ArrayReader, ArrayWriter

        s.R = ArrayReader
        s.W = ArrayWriter
        s.t = audiotsm.wsola(1, speed=rate)
        s.w = ArrayWriter(1)
        s.n = 0

    def _take(s):
        d = s.w.data[0]
        y = d[s.n :]
        s.n = len(d)
        return y.astype(np.float32)

    def feed(s, x):
        r = s.R(x[None, :].astype(np.float64))
        while not r.empty:
            s.t.read_from(r)
            s.t.write_to(s.w)
        s.t.write_to(s.w)
        return s._take()

    def finish(s):
        fin = False
        while not fin:
            _, fin = s.t.flush_to(s.w)
        return s._take()


def run(cls, x, rate, **kw):
    st = cls(rate, **kw)
    outs = []
    firsts = None
    cpu = time.process_time()
    for i in range(0, len(x), FRAME):
        y = st.feed(x[i : i + FRAME])
        outs.append(y)
        if firsts is None and len(y) and np.max(np.abs(y)) > 0.05:
            firsts = i + FRAME
    outs.append(st.finish())
    cpu = time.process_time() - cpu
    return np.concatenate(outs), cpu, firsts


def freq(y):
    y = y[len(y) // 4 : 3 * len(y) // 4]
    w = np.hanning(len(y))
    sp = np.abs(np.fft.rfft(y * w, n=1 << 20))
    k = np.argmax(sp)
    return k * SR / (1 << 20)


def chirp_err(y, rate, sec):
    # instantaneous frequency from short FFT windows vs expected f(t*rate)
    errs = []
    n = 2048
    for c in np.linspace(0.15, 0.85, 15):
        i = int(c * len(y))
        seg = y[i - n // 2 : i + n // 2]
        if len(seg) < n:
            continue
        sp = np.abs(np.fft.rfft(seg * np.hanning(n), n=1 << 18))
        f = np.argmax(sp) * SR / (1 << 18)
        tin = (i / SR) * rate
        exp = 200 + (1800 / sec) * tin
        errs.append(abs(f - exp) / exp)
    return 100 * np.median(errs)


if __name__ == "__main__":
    import sys

    cls = [Signalsmith, Rubber, Wsola]
    print(
        "| library | rate | tone duration error | tone pitch error | chirp pitch error (median) | CPU ms per s of audio in | first chunk delay (input ms) |"
    )
    for C in cls:
        for rate in (0.5, 0.8, 1.3, 1.5, 2.0):
            x = tone(4.0)
            y, cpu, first = run(C, x, rate)
            dur = 100 * (len(y) / (len(x) / rate) - 1)
            pe = 100 * (freq(y) / 440 - 1)
            xc = chirp(4.0)
            yc, _, _ = run(C, xc, rate)
            ce = chirp_err(yc, rate, 4.0)
            print(
                f"| {C.name} | {rate} | {dur:+.2f} % | {pe:+.2f} % | {ce:.2f} % | {1000 * cpu / 4:.1f} | {1000 * (first or 0) / SR:.0f} |"
            )
