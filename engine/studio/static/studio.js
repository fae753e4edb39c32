// The control page: preview, numbers, latency graph, blendshape bars, and the controls (JSON API).
import { FrameStream } from "./stream.js";

const $ = (id) => document.getElementById(id);
const token = new URLSearchParams(location.search).get("token");
const GRAPH_MS = 100;  // the latency graph's full height
const PLACEHOLDER = { demo: "", webcam: "0", video: "/path/to/clip.mp4", livelink: "11111",
                      ifacialmocap: "phone IP", vmc: "39539", vts: "phone IP" };
const PORT_KINDS = new Set(["livelink", "vmc"]);
let state = null;

function showError(message) {
  $("error").textContent = message || "";
  $("error").hidden = !message;
}

async function api(path, body, { raw = false, contentType } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
  const init = { method: body === undefined ? "GET" : "POST", headers };
  if (body !== undefined) {
    headers["Content-Type"] = raw ? contentType : "application/json";
    init.body = raw ? body : JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

async function act(work) {
  try { showError(""); return await work(); }
  catch (error) { showError(error.message); return null; }
}

function fill(select, items, current) {
  select.replaceChildren(...items.map(({ id, name }) => new Option(name, id, false, id === current)));
}

function buildBars(shapes) {
  const rows = [];
  for (const shape of shapes) {
    const label = document.createElement("span");
    label.textContent = shape;
    const track = document.createElement("div");
    track.className = "track";
    for (const kind of ["requested", "retargeted"]) {
      const bar = document.createElement("div");
      bar.className = `bar ${kind}`;
      bar.dataset.shape = shape;
      bar.dataset.kind = kind;
      bar.dataset.value = "0";
      track.append(bar);
    }
    const value = document.createElement("span");
    value.className = "value";
    value.dataset.shape = shape;
    rows.push(label, track, value);
  }
  $("bars").replaceChildren(...rows);
}

function setBars(kind, weights) {
  if (!weights) return;
  document.querySelectorAll(`.bar.${kind}`).forEach((bar, i) => {
    bar.dataset.value = String(weights[i]);
    bar.style.width = `${(100 * weights[i]).toFixed(1)}%`;
  });
  if (kind === "retargeted") {
    document.querySelectorAll(".value").forEach((cell, i) => { cell.textContent = weights[i].toFixed(2); });
  }
}

const describe = (counts) => (Object.keys(counts).length
  ? Object.entries(counts).map(([k, v]) => `${k} ${v}`).join(", ") : "none");

function onStatus(s) {
  $("state").textContent = s.running ? `running: ${s.source} → ${s.renderer}` +
    (s.mouth && s.mouth !== "tracker" ? ` (mouth: ${s.mouth})` : "") : "stopped";
  $("start-stop").textContent = s.running ? "Stop" : "Start";
  $("source-current").textContent = s.source_ended ? `${s.source} (ended)` : (s.running ? s.source : "stopped");
  $("fps").textContent = s.fps.toFixed(1);
  $("frames").textContent = s.frames;
  $("samples").textContent = `${s.samples_in} / ${s.samples_dropped}`;
  $("errors").textContent = describe(s.errors);
  $("rejected").textContent = describe(s.rejected);
  $("clients").textContent = s.clients.length;
  $("busy").hidden = !s.busy;
  $("busy").textContent = s.busy ? `${s.busy}…` : "";
  if (s.head_rad) $("head").textContent = s.head_rad.map((r) => `${(r * 180 / Math.PI).toFixed(1)}°`).join(" / ");
  setBars("requested", s.requested);
  setBars("retargeted", s.retargeted);
  window.facecastStatus = s;
}

function drawGraph(latencies) {
  const canvas = $("latency-graph");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#ddd";
  for (const ms of [25, 50, 75]) {
    const y = canvas.height * (1 - ms / GRAPH_MS);
    ctx.beginPath(); ctx.moveTo(0, y); ctx.lineTo(canvas.width, y); ctx.stroke();
  }
  ctx.strokeStyle = "#d73";
  ctx.beginPath();
  const recent = latencies.slice(-canvas.width);
  recent.forEach(({ latency_ms }, x) => {
    const y = canvas.height * (1 - Math.min(latency_ms, GRAPH_MS) / GRAPH_MS);
    if (x === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

function percentile(values, q) {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q / 100 * sorted.length))];
}

function sourceSpec() {
  const kind = $("source-kind").value;
  const arg = $("source-arg").value.trim();
  if (kind === "demo") return "demo";
  return arg || !PORT_KINDS.has(kind) ? `${kind}:${arg}` : kind;
}

function phoneHint() {
  const kind = $("source-kind").value;
  const lan = state && state.lan_address;
  const port = $("source-arg").value.trim() || PLACEHOLDER[kind];
  $("phone-hint").textContent = !lan ? "" : {
    livelink: `Phone: Live Link Face → Settings → Live Link → add target ${lan}, port ${port}; tick "phone on Wi-Fi".`,
    vmc: `Sender: VMC protocol to ${lan}, port ${port}; tick "phone on Wi-Fi".`,
    ifacialmocap: `Enter the phone's IP shown in iFacialMocap; this computer is ${lan}.`,
    vts: `Enter the phone's IP (VTube Studio → 3rd Party PC Clients); this computer is ${lan}.`,
  }[kind] || "";
}

async function refreshState() {
  state = await api("api/state");
  fill($("renderer"), state.renderers.map((n) => ({ id: n, name: n })), state.renderer);
  fill($("portrait"), state.portraits, state.portrait);
  fill($("profiles"), state.profiles.map((n) => ({ id: n, name: n })), state.profile);
  $("view-link").href = `view?bg=${state.background === "transparent" ? "transparent" : "green"}`
    + (token ? `&token=${encodeURIComponent(token)}` : "");
  phoneHint();
}

async function calibrate(step) {
  const result = await act(() => api("api/calibrate", { step, seconds: Number($("calib-seconds").value),
                                                        profile: $("profile-name").value.trim() }));
  if (result) {
    $("calib-result").textContent = `${step}: ${result.samples} samples, ${Object.keys(result.changed).length} `
      + `channels changed; saved to ${result.path} and applied.`;
    await refreshState();
  }
}

async function main() {
  await act(refreshState);
  if (state) buildBars(state.shapes);
  const stream = new FrameStream({
    canvas: $("preview"), onStatus, maxFps: Number($("preview-fps").value) || null,
    onError: (message) => console.warn("facecast:", message),
    onFrame: () => {},
  });
  window.facecast = stream.stats;
  setInterval(() => {
    const recent = stream.stats.latencies.slice(-120).map((l) => l.latency_ms);
    $("latency").textContent = recent.length
      ? `p50 ${percentile(recent, 50).toFixed(1)} ms, p95 ${percentile(recent, 95).toFixed(1)} ms` : "–";
    drawGraph(stream.stats.latencies);
  }, 250);
  $("encoding").onchange = () => stream.setEncoding($("encoding").value);
  $("preview-fps").onchange = () => stream.setMaxFps(Number($("preview-fps").value) || null);
  $("source-kind").onchange = () => { $("source-arg").placeholder = PLACEHOLDER[$("source-kind").value]; phoneHint(); };
  $("source-arg").oninput = phoneHint;
  $("source-apply").onclick = () => act(() => api("api/source", { spec: sourceSpec(), lan: $("source-lan").checked }));
  $("start-stop").onclick = () => act(() => api("api/stream", { running: $("start-stop").textContent === "Start" }));
  $("renderer-apply").onclick = () => act(async () => {
    await api("api/renderer", { name: $("renderer").value, portrait: $("portrait").value });
    await refreshState();
  });
  $("portrait").onchange = () => act(async () => {
    const result = await api("api/portraits/check", { id: $("portrait").value });
    $("check").textContent = result.lines.join("\n");
    $("check").hidden = false;
  });
  $("upload").onchange = () => act(async () => {
    const file = $("upload").files[0];
    if (!file) return;
    const result = await api("api/portraits", file, { raw: true, contentType: file.type || "image/jpeg" });
    $("check").textContent = result.lines.join("\n");
    $("check").hidden = false;
    await refreshState();
    $("portrait").value = result.id;
    if (result.refusal) throw new Error(`this photo cannot be animated: ${result.refusal}`);
  });
  $("capture-neutral").onclick = () => calibrate("neutral");
  $("capture-range").onclick = () => calibrate("range");
  $("profile-apply").onclick = () => act(() => api("api/profile", { name: $("profiles").value || null }));
  $("profile-none").onclick = () => act(() => api("api/profile", { name: null }));
}

main();
