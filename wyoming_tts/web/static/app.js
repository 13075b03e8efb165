// The voice page. Every URL is relative: behind Home Assistant's ingress the page lives under
// a path prefix. No external assets: many Home Assistant installs are offline.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { voices: [], recorder: null, recordTimer: null };

function say(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.className = isError ? "error" : "";
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error || message;
    } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

function button(label, onClick, className = "") {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (className) b.className = className;
  b.addEventListener("click", onClick);
  return b;
}

async function loadVoices() {
  const data = await (await api("api/voices")).json();
  state.voices = data.voices;
  const list = $("voices");
  list.replaceChildren();
  for (const voice of data.voices) {
    const item = document.createElement("li");
    item.dataset.voice = voice.name;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = voice.name;
    const desc = document.createElement("span");
    desc.className = "desc";
    desc.textContent = voice.description;
    item.append(name, desc);
    if (voice.default) item.append(badge("default", "badge default"));
    if (voice.custom) item.append(badge("custom", "badge"));
    item.append(button(`Play ${voice.name}`, () => speak(null, voice.name)));
    if (!voice.default) {
      item.append(button("Set default", () => tune(voice.name, { default: true })));
    }
    item.append(
      slider("Volume", `Volume of ${voice.name}`, "0.1", "2", "0.1", voice.volume, (value) =>
        tune(voice.name, { volume: value }),
      ),
      slider("Rate", `Speech rate of ${voice.name}`, "0.5", "2", "0.05", voice.speed, (value) =>
        tune(voice.name, { speed: value }),
      ),
    );
    if (voice.custom) {
      item.append(button(`Delete ${voice.name}`, () => remove(voice.name), "danger"));
    }
    list.append(item);
  }
  const select = $("test-voice");
  const chosen = select.value;
  select.replaceChildren(...data.voices.map((v) => new Option(`${v.name} (${v.languages[0]})`, v.name)));
  if (chosen) select.value = chosen;
  const languages = $("new-language");
  if (!languages.options.length) {
    languages.replaceChildren(...data.languages.map((l) => new Option(l, l)));
  }
}

function slider(title, label, min, max, step, value, onChange) {
  const wrap = document.createElement("label");
  wrap.className = "slider";
  const input = document.createElement("input");
  Object.assign(input, { type: "range", min, max, step, value: String(value) });
  input.setAttribute("aria-label", label);
  const shown = document.createElement("span");
  shown.textContent = `${title} ${Number(value).toFixed(2)}×`;
  input.addEventListener("input", () => {
    shown.textContent = `${title} ${Number(input.value).toFixed(2)}×`;
  });
  input.addEventListener("change", () => onChange(Number(input.value)));
  wrap.append(shown, input);
  return wrap;
}

function badge(text, className) {
  const span = document.createElement("span");
  span.className = className;
  span.textContent = text;
  return span;
}

async function tune(name, change) {
  try {
    await api(`api/voices/${encodeURIComponent(name)}`, {
      method: "PUT",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(change),
    });
    const what = "speed" in change ? "Speech rate" : "Volume";
    say(change.default ? `${name} is now the default voice.` : `${what} of ${name} saved.`);
    if (change.default) await loadVoices(); // a slider keeps its focus: the list stays

  } catch (err) {
    say(err.message, true);
  }
}

async function remove(name) {
  if (!window.confirm(`Delete the voice ${name}?`)) return;
  try {
    await api(`api/voices/${encodeURIComponent(name)}`, { method: "DELETE" });
    say(`Deleted ${name}.`);
    await loadVoices();
  } catch (err) {
    say(err.message, true);
  }
}

async function upload(blob, filename) {
  const name = $("new-name").value.trim();
  if (!name) {
    say("Give the voice a name first.", true);
    $("new-name").focus();
    return;
  }
  const form = new FormData();
  form.append("name", name);
  form.append("language", $("new-language").value);
  form.append("audio", blob, filename);
  say(`Adding ${name}… (encoding takes a moment)`);
  try {
    await api("api/voices", { method: "POST", body: form });
    say(`Added ${name}.`);
    $("new-name").value = "";
    $("file").value = "";
    await loadVoices();
  } catch (err) {
    say(err.message, true);
  }
}

// A WAV streamed as it is made says "as long as it goes" in its header: fix the sizes.
function fixWav(buffer) {
  const view = new DataView(buffer);
  if (buffer.byteLength >= 44) {
    view.setUint32(4, buffer.byteLength - 8, true);
    view.setUint32(40, buffer.byteLength - 44, true);
  }
  return buffer;
}

async function speak(text, voice) {
  say("Speaking…");
  try {
    const started = performance.now();
    const response = await api("api/speak", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text, voice }),
    });
    const audio = fixWav(await response.arrayBuffer());
    const player = $("player");
    if (player.src) URL.revokeObjectURL(player.src);
    player.src = URL.createObjectURL(new Blob([audio], { type: "audio/wav" }));
    await player.play().catch(() => { /* autoplay may be refused: the controls are there */ });
    say(`Spoken in ${Math.round(performance.now() - started)} ms.`);
    loadStats();
  } catch (err) {
    say(err.message, true);
  }
}

async function showText() {
  const voice = state.voices.find((v) => v.name === $("test-voice").value);
  const params = new URLSearchParams({ text: $("test-text").value });
  if (voice) params.set("language", voice.languages[0]);
  try {
    const data = await (await api(`api/normalize?${params}`)).json();
    $("segments").replaceChildren(...data.segments.map((s) => {
      const li = document.createElement("li");
      li.textContent = s;
      return li;
    }));
    say(`${data.segments.length} segment(s).`);
  } catch (err) {
    say(err.message, true);
  }
}

async function loadStats() {
  try {
    const data = await (await api("api/stats")).json();
    $("stats").replaceChildren(...data.requests.map((r) => {
      const row = document.createElement("tr");
      for (const value of [r.label, r.chars, `${r.first_audio_ms} ms`, `${r.real_time}×`]) {
        const cell = document.createElement("td");
        cell.textContent = String(value);
        row.append(cell);
      }
      return row;
    }));
  } catch (err) {
    say(err.message, true);
  }
}

// Recording: Chromium records Opus in WebM, which the server does not read. Decode it here
// and upload a 16-bit WAV instead.
function encodeWav(samples, rate) {
  const buffer = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(buffer);
  const text = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF");
  view.setUint32(4, 36 + samples.length * 2, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, 1, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, rate, true);
  view.setUint32(28, rate * 2, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, "data");
  view.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 32767, true));
  return new Blob([buffer], { type: "audio/wav" });
}

async function toggleRecording() {
  const recordButton = $("record");
  if (state.recorder) {
    state.recorder.stop();
    return;
  }
  if (!$("new-name").value.trim()) {
    say("Give the voice a name first.", true);
    $("new-name").focus();
    return;
  }
  try {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const recorder = new MediaRecorder(stream);
    const chunks = [];
    recorder.addEventListener("dataavailable", (e) => chunks.push(e.data));
    recorder.addEventListener("stop", async () => {
      stream.getTracks().forEach((t) => t.stop());
      clearInterval(state.recordTimer);
      state.recorder = null;
      recordButton.textContent = "Record from the microphone";
      $("record-time").textContent = "";
      try {
        const recorded = new Blob(chunks, { type: recorder.mimeType });
        const context = new AudioContext();
        const decoded = await context.decodeAudioData(await recorded.arrayBuffer());
        await context.close();
        await upload(encodeWav(decoded.getChannelData(0), decoded.sampleRate), "recording.wav");
      } catch (err) {
        say(`The recording could not be read: ${err.message}`, true);
      }
    });
    recorder.start();
    state.recorder = recorder;
    recordButton.textContent = "Stop recording";
    const started = Date.now();
    state.recordTimer = setInterval(() => {
      const seconds = Math.round((Date.now() - started) / 1000);
      $("record-time").textContent = `${seconds} s`;
      if (seconds >= 15 && state.recorder) state.recorder.stop();
    }, 250);
    say("Recording… speak for 5 to 10 seconds, then stop.");
  } catch (err) {
    say(`The microphone is not available: ${err.message}`, true);
  }
}

function init() {
  $("upload").addEventListener("click", () => {
    const file = $("file").files[0];
    if (!file) {
      say("Choose an audio file first.", true);
      return;
    }
    upload(file, file.name);
  });
  $("speak").addEventListener("click", () => speak($("test-text").value, $("test-voice").value));
  $("show-text").addEventListener("click", showText);
  if (window.isSecureContext && navigator.mediaDevices && window.MediaRecorder) {
    $("record").addEventListener("click", toggleRecording);
  } else {
    $("record-row").hidden = true;
    $("record-note").hidden = false;
  }
  loadVoices().catch((err) => say(err.message, true));
  loadStats();
}

init();
