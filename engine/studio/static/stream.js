// The studio's frame stream: one WebSocket to /ws, frames painted on a canvas, capture-to-paint latency.
//
// Every message from the server is acknowledged once handled (frames after they are painted), which is the
// server's signal to send more: a busy or hidden page gets fewer frames, never a queue of old ones.
// Frame message: 4-byte big-endian header length, JSON header, then the parts it lists: images, and for
// "jpeg+alpha" the alpha channel (one byte per pixel, zlib-deflated) after the JPEG.

const ALPHA_MIME = "application/x-facecast-alpha";

const LATENCY_KEEP = 600;

export class FrameStream {
  constructor({ canvas, encoding = "auto", quality = 80, status = true, maxFps = null, onStatus = () => {},
                onError = () => {}, onFrame = () => {} }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.scratch = document.createElement("canvas");
    this.scratchCtx = this.scratch.getContext("2d");
    this.maskPixels = null;   // ImageData whose alpha is the frame's alpha (its colour stays black)
    this.maskWords = null;    // the same pixels as 32-bit words
    this.options = { encoding, quality, status, max_fps: maxFps };
    this.onStatus = onStatus;
    this.onError = onError;
    this.onFrame = onFrame;
    this.clockOffsetMs = 0;   // server wall clock minus this page's, from the ping with the shortest round trip
    this.bestRoundTripMs = Infinity;
    this.pending = null;      // the newest decoded frame not painted yet
    this.stats = { frames: 0, latencies: [], lastSeq: 0, errors: [] };
    this.connect();
  }

  now() { return performance.timeOrigin + performance.now(); }

  connect() {
    const url = new URL("ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    const token = new URLSearchParams(location.search).get("token");
    if (token) url.searchParams.set("token", token);
    this.ws = new WebSocket(url);
    this.ws.binaryType = "arraybuffer";
    this.ws.onopen = () => {
      this.send({ type: "hello", ...this.options });
      // a burst of pings first: the offset is the one with the shortest round trip, and the first ping alone, sent
      // while a loaded machine was still busy with the page, took a round trip of a quarter second and more (the
      // latencies then read -30 to -130 ms), then one every 5 s
      this.ping();
      this.burst = [100, 250, 500, 1000, 2000].map((ms) => setTimeout(() => this.ping(), ms));
      this.pingTimer = setInterval(() => this.ping(), 5000);
    };
    this.ws.onmessage = (event) => this.receive(event.data);
    this.ws.onclose = (event) => {
      clearInterval(this.pingTimer);
      (this.burst || []).forEach(clearTimeout);
      this.onError(`connection closed (${event.code}${event.reason ? ": " + event.reason : ""}); retrying`);
      setTimeout(() => this.connect(), 1000);
    };
  }

  send(message) { if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message)); }
  ack() { this.send({ type: "ack" }); }
  ping() { this.send({ type: "clock", t_page_ms: this.now() }); }
  setEncoding(encoding) { this.options.encoding = encoding; this.send({ type: "hello", ...this.options }); }
  setMaxFps(maxFps) { this.options.max_fps = maxFps; this.send({ type: "hello", ...this.options }); }

  receive(data) {
    if (typeof data === "string") {
      const message = JSON.parse(data);
      if (message.type === "status") { this.onStatus(message); this.ack(); }
      else if (message.type === "clock") this.clock(message);
      else if (message.type === "error") { this.stats.errors.push(message.error); this.onError(message.error); }
      return;
    }
    this.decode(data).catch((error) => { this.onError(`a frame could not be shown: ${error}`); this.ack(); });
  }

  clock({ t_page_ms, t_server_ms }) {
    const back = this.now();
    const roundTrip = back - t_page_ms;
    if (roundTrip <= this.bestRoundTripMs) {
      this.bestRoundTripMs = roundTrip;
      this.clockOffsetMs = t_server_ms - (t_page_ms + back) / 2;
    }
  }

  async decode(buffer) {
    const decodeStart = performance.now();
    const headerLength = new DataView(buffer).getUint32(0);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headerLength)));
    let offset = 4 + headerLength;
    const bitmaps = [];
    let alpha = null;
    for (const [mime, length] of header.parts) {
      const blob = new Blob([new Uint8Array(buffer, offset, length)], { type: mime });
      if (mime === ALPHA_MIME) {
        alpha = new Uint8Array(await new Response(blob.stream().pipeThrough(new DecompressionStream("deflate")))
          .arrayBuffer());
      } else {
        bitmaps.push(await createImageBitmap(blob));
      }
      offset += length;
    }
    const older = this.pending;
    if (older && older.header.seq > header.seq) {  // decoded out of order: the newer one stays
      bitmaps.forEach((b) => b.close());
      this.ack();
      return;
    }
    if (older) {  // never painted: the newer frame replaces it
      older.bitmaps.forEach((b) => b.close());
      this.ack();
    } else {
      requestAnimationFrame(() => this.paint());
    }
    this.pending = { header, bitmaps, alpha, decodeMs: performance.now() - decodeStart };
  }

  paint() {
    const frame = this.pending;
    this.pending = null;
    if (!frame) return;
    const paintStart = performance.now();
    const { header, bitmaps, alpha, decodeMs } = frame;
    const { width, height } = header;
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = this.scratch.width = width;
      this.canvas.height = this.scratch.height = height;
      this.maskPixels = null;
    }
    this.ctx.clearRect(0, 0, width, height);
    this.ctx.drawImage(bitmaps[0], 0, 0);
    if (alpha) {  // jpeg+alpha: keep the colour only as far as the alpha says
      if (!this.maskPixels) {
        this.maskPixels = new ImageData(width, height);
        this.maskWords = new Uint32Array(this.maskPixels.data.buffer);  // one RGBA pixel per word
      }
      // little-endian words: the alpha byte is the top one (every browser facecast supports is little-endian)
      const m = this.maskWords;
      for (let i = 0; i < alpha.length; i += 1) m[i] = alpha[i] << 24;
      this.scratchCtx.putImageData(this.maskPixels, 0, 0);
      this.ctx.globalCompositeOperation = "destination-in";
      this.ctx.drawImage(this.scratch, 0, 0);
      this.ctx.globalCompositeOperation = "source-over";
    }
    bitmaps.forEach((b) => b.close());
    const latencyMs = this.now() + this.clockOffsetMs - header.capture_wall_ms;
    const s = this.stats;
    s.frames += 1;
    s.lastSeq = header.seq;
    s.latencies.push({ seq: header.seq, capture_wall_ms: header.capture_wall_ms, render_wall_ms: header.render_wall_ms,
                       sent_wall_ms: header.sent_wall_ms, latency_ms: latencyMs, decode_ms: decodeMs,
                       paint_ms: performance.now() - paintStart });
    if (s.latencies.length > LATENCY_KEEP) s.latencies.shift();
    this.ack();
    this.onFrame(header, latencyMs);
  }
}
