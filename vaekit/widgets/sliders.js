// The latent sliders: one range input per code dimension; every input event decodes the code here, in
// the browser, and repaints the canvas in the same frame. The kernel is told the code afterwards (the
// `z` trait; while a hand moves, every KERNEL_EVERY_MS and the last code), and can set it too. Works
// without a kernel (the exported page): everything but Python.
// A browser that decodes slower than `browser_budget_ms` a code hands decoding to the kernel, which
// sends the pixels of each new code back (`decoding` says where it happens); the exported page keeps it.
import { decode, paintDigit } from "./decoder.js";
import { codeOf, digitCanvas, element, imageOf, loadModelData } from "./data.js";

const SCALE = 8; // 28 px digits shown 224 px wide
const SPAN = 3; // +-3 standard deviations of the prior, times the temperature
// Where to decode: when the widget opens, the median of the last TIMED_DECODES decodes, once within the
// budget or after TIMING_MS (the first decodes also compile the decoder: 10-100 ms each for a conv model).
const TIMED_DECODES = 5;
const TIMING_MS = 300;
// While a hand moves a slider, the kernel hears the code at most once every KERNEL_EVERY_MS, and always the
// last code. In JupyterLab each message to the kernel costs the page ~10 ms of main-thread work (the
// kernel's busy and idle status redraws Lab's toolbar, status bar and favicon; then the echo and
// kernel_code), which lands between the next moves and their frames (benchmarks/trace_slider_latency.py).
// Where the kernel decodes, it hears every code (ipywidgets keeps one message in flight).
const KERNEL_EVERY_MS = 200;

// Text that changes on every move: the text node's data changes, not the node, so the browser restyles nothing
// (textContent would put a new node in, and JupyterLab's page restyles for it: ~0.6 ms a move).
function setText(el, text) {
  const node = el.firstChild;
  if (node && node.nodeType === 3 && !node.nextSibling) node.data = text;
  else el.textContent = text;
}

function normal() {
  // Box-Muller: one draw from N(0, 1)
  let u = 0;
  while (u === 0) u = Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}

export function formatCode(z) {
  return "z = [" + Array.from(z, (v) => (Math.round(v * 100) / 100 + 0).toFixed(2)).join(", ") + "]";
}

async function render({ model, el }) {
  const d = await loadModelData(model, el);
  const dims = model.get("dimensions");
  const kl = model.get("kl");
  const conditional = d.spec.classes > 0;
  let z = Float32Array.from(model.get("z"));
  let span = SPAN * model.get("temperature");
  const root = element("div", "vaekit-root");
  root.dataset.lmSuppressShortcuts = "true"; // arrow keys move our sliders, not JupyterLab's cell selection
  root.addEventListener("keydown", (e) => e.stopPropagation()); // nor reach the notebook, which takes the focus
  el.appendChild(root);

  // -- controls --------------------------------------------------------------
  const intro = element("div", "vaekit-intro");
  const inactive = kl.filter((k) => k < model.get("inactive_kl")).length;
  intro.innerHTML = `Each slider sets one dimension of the code <i>z</i>; the number after its name is that
    dimension's average KL on ${d.count.toLocaleString("en")} test images, in nats. The first sliders change
    the image most; ${inactive} of ${dims.length} dimensions carry almost no information.`;
  const random = element("button", "vaekit-random", "random");
  random.title = "a code drawn from N(0, T²·I)";
  const reset = element("button", "vaekit-reset", "reset");
  reset.title = "the code 0: the prior's centre";
  const temperatureBox = element("label", "vaekit-range", "temperature ");
  const temperature = Object.assign(element("input"), { type: "range", min: 0.25, max: 2, step: 0.05 });
  temperature.value = model.get("temperature");
  const temperatureText = element("span", "vaekit-readout", Number(temperature.value).toFixed(2));
  temperatureBox.append(temperature, temperatureText);
  const indexBox = element("label", "vaekit-digit-index", "index ");
  const index = Object.assign(element("input"), { type: "number", min: 0, max: d.count - 1, value: model.get("index") });
  indexBox.append(index);
  const classBox = element("label", "vaekit-digit-class", "class ");
  const classes = element("select");
  classes.append(Object.assign(element("option", "", "…"), { value: "" }));
  d.classNames.forEach((name, i) => classes.append(Object.assign(element("option", "", name), { value: i })));
  classBox.append(classes);
  const fromDigit = element("button", "vaekit-from-digit", "start from image");
  fromDigit.title = "the encoded mean of test image #index";
  const condition = element("select", "vaekit-condition");
  d.classNames.forEach((name, i) => condition.append(Object.assign(element("option", "", name), { value: i })));
  condition.value = model.get("label");

  // -- sliders ---------------------------------------------------------------
  const grid = element("div", "vaekit-slider-grid");
  const rows = dims.map((dim, i) => {
    const row = element("div", "vaekit-latent-slider");
    row.dataset.dimension = dim;
    const label = element("span", "vaekit-slider-label", `z${dim} · ${kl[dim].toFixed(2)}`);
    label.title = `dimension ${dim}: average KL ${kl[dim].toFixed(3)} nats`;
    const track = element("span", "vaekit-track");
    const band = element("span", "vaekit-band");
    const input = Object.assign(element("input"), { type: "range", step: 0.05 });
    input.setAttribute("aria-label", `z${dim}`);
    track.append(band, input);
    const readout = element("span", "vaekit-readout");
    row.append(label, track, readout);
    grid.append(row);
    input.addEventListener("input", () => {
      z[dim] = Number(input.value);
      setText(readout, z[dim].toFixed(2));
      paint();
      send();
    });
    return { dim, input, readout, band };
  });

  // -- pictures --------------------------------------------------------------
  const decoded = digitCanvas(d, "vaekit-decoded", SCALE);
  const original = digitCanvas(d, "vaekit-original", SCALE);
  const caption = element("div", "vaekit-caption", "original: none yet");
  const code = element("div", "vaekit-code");
  const message = element("div", "vaekit-message");
  const notice = element("div", "vaekit-caption vaekit-decoding-notice");
  const pictures = element("div", "vaekit-pictures");
  const left = element("div", "", "");
  left.append(element("div", "vaekit-caption", "decoded"), decoded);
  const right = element("div");
  right.append(caption, original);
  // samples from q(z|x) of the image shown: how much its reconstructions vary
  const SAMPLES = 8;
  const posterior = element("button", "vaekit-posterior-samples", `${SAMPLES} samples from q(z|x)`);
  posterior.title = "decode codes drawn from the encoder's Gaussian for the image shown";
  posterior.disabled = true;
  const strip = element("canvas", "vaekit-posterior-strip");
  strip.width = SAMPLES * (d.side + 2) * 2;
  strip.height = d.side * 2;
  const spread = element("div", "vaekit-caption vaekit-posterior-spread");
  const posteriorBox = element("div");
  posteriorBox.append(posterior, strip, spread);
  pictures.append(left, right);
  // The GIF button: the kernel writes every active dimension swept across the sliders' range, the others held at
  // the current code, to `gif_path` and answers on `message`. A page with no kernel has no one to write it.
  const gif = element("button", "vaekit-gif-button", "GIF");
  gif.title = "write an animated GIF (in the notebook's folder): every active slider swept across its range " +
    "at once, most active first, the others held where they are now";
  gif.style.display = d.noKernel ? "none" : "";
  gif.addEventListener("click", () => model.send({ event: "gif" }));
  const buttons = element("div", "vaekit-row");
  buttons.append(random, reset, temperatureBox, gif);
  if (conditional) buttons.append(Object.assign(element("label", "", "class to decode "), {}), condition);
  const chooser = element("div", "vaekit-row");
  chooser.append(indexBox, classBox, fromDigit);
  const body = element("div", "vaekit-row");
  body.append(grid, pictures);

  // -- draw your own digit: the kernel encodes it (there is no encoder in the page) ----------
  const DRAW = 6; // px a pixel
  const drawn = new Float32Array(d.side * d.side);
  const drawing = digitCanvas(d, "vaekit-draw", DRAW);
  drawing.style.touchAction = "none";
  const drawCtx = drawing.getContext("2d");
  const encode = element("button", "vaekit-encode-drawing", "use my drawing");
  encode.title = "the kernel encodes your drawing; the sliders take its code";
  const clear = element("button", "vaekit-clear-drawing", "clear");
  const nearest = element("div", "vaekit-nearest vaekit-row");
  const drawBox = element("div", "vaekit-row");
  const drawButtons = element("div");
  drawButtons.append(element("div", "vaekit-caption", "draw a digit (mouse or finger)"), encode, clear,
                     element("div", "vaekit-caption", "nearest test images by code:"), nearest);
  drawBox.append(drawing, drawButtons);
  let pen = false;
  function ink(event) {
    const r = drawing.getBoundingClientRect();
    const x = ((event.clientX - r.left) / r.width) * d.side, y = ((event.clientY - r.top) / r.height) * d.side;
    for (let py = Math.floor(y) - 1; py <= Math.floor(y) + 1; py++) {
      for (let px = Math.floor(x) - 1; px <= Math.floor(x) + 1; px++) {
        if (px < 0 || py < 0 || px >= d.side || py >= d.side) continue;
        const dist2 = (px + 0.5 - x) ** 2 + (py + 0.5 - y) ** 2; // a soft round brush, like a pen stroke
        drawn[py * d.side + px] = Math.max(drawn[py * d.side + px], Math.min(1, 1.6 - dist2));
      }
    }
    paintDigit(drawCtx, drawn, d.side, 0, 0, DRAW);
  }
  drawing.addEventListener("pointerdown", (e) => { pen = true; drawing.setPointerCapture(e.pointerId); ink(e); });
  drawing.addEventListener("pointermove", (e) => pen && ink(e));
  drawing.addEventListener("pointerup", () => (pen = false));
  clear.addEventListener("click", () => { drawn.fill(0); paintDigit(drawCtx, drawn, d.side, 0, 0, DRAW); });
  encode.addEventListener("click", () => {
    say("encoding your drawing…");
    model.send({ drawn: Array.from(drawn) });
  });
  function showNearest() {
    nearest.replaceChildren(...model.get("nearest").map((i) => {
      const c = digitCanvas(d, "vaekit-nearest-image", 2);
      paintDigit(c.getContext("2d"), imageOf(d, i), d.side, 0, 0, 2);
      c.title = `test image ${i}, ${d.classNames[d.labels[i]]}`;
      return c;
    }));
  }

  if (d.noKernel) drawBox.style.display = "none"; // a page with no kernel has none to encode with
  root.append(intro, buttons, chooser, body, notice, code, message, posteriorBox, drawBox);
  const ctx = decoded.getContext("2d");
  const originalCtx = original.getContext("2d");

  // -- what every change does --------------------------------------------------
  function paint() {
    setText(code, formatCode(z));
    if (inKernel()) return; // the kernel decodes z and sends the pixels (onDecoded)
    paintDigit(ctx, decode(d.decoder, z, conditional ? Number(condition.value) : null), d.side, 0, 0, SCALE);
  }
  function inKernel() {
    return !d.noKernel && model.get("decoding") === "kernel";
  }
  function chooseWhereToDecode() {
    // time decodes of the current code until the median of the last few is within the budget, or time is
    // up; then hand decoding to the kernel if that median is over the budget and there is a kernel
    const budget = model.get("browser_budget_ms"), label = conditional ? Number(condition.value) : null;
    const times = [], started = performance.now();
    let median = Infinity;
    while (times.length < TIMED_DECODES || (median > budget && performance.now() - started < TIMING_MS)) {
      const before = performance.now();
      decode(d.decoder, z, label);
      times.push(performance.now() - before);
      const last = times.slice(-TIMED_DECODES).sort((a, b) => a - b);
      if (last.length === TIMED_DECODES) median = last[Math.floor(TIMED_DECODES / 2)];
    }
    el.dataset.browserMs = median.toFixed(2);
    el.dataset.timedDecodes = times.length;
    if (d.noKernel) {
      if (median > budget) {
        notice.textContent = `decoding in this page: ${median.toFixed(1)} ms a code (no kernel to hand it to)`;
      }
      return;
    }
    model.set("browser_ms", median);
    if (median > budget) model.set("decoding", "kernel");
    model.save_changes();
  }
  function onDecoding() {
    if (d.noKernel) {
      el.dataset.decoding = "browser"; // no kernel: the page decodes, whatever the state says
      return;
    }
    const ms = model.get("browser_ms");
    el.dataset.decoding = model.get("decoding");
    if (inKernel()) {
      notice.textContent = "decoding in the kernel" + (ms >= 0 ? `: ${ms.toFixed(1)} ms a code in this browser` : "");
    } else {
      notice.textContent = "";
      paint(); // back in the browser
    }
  }
  function onDecoded(content, buffers) {
    if (!content || !content.decoded) return;
    const view = buffers[0];
    const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    paintDigit(ctx, new Float32Array(bytes.slice().buffer), d.side, 0, 0, SCALE); // a copy: aligned floats
  }
  function showSliders() {
    for (const r of rows) {
      r.input.min = -span;
      r.input.max = span;
      r.input.value = z[r.dim];
      setText(r.readout, z[r.dim].toFixed(2));
    }
  }
  // The page's model takes every code at once (other views of it and the latent map follow); the kernel
  // hears it from save(), right after this frame if it heard nothing for KERNEL_EVERY_MS, else when that
  // time is up. `sent`: the code the kernel last heard, `pending`: a save scheduled.
  let sent = Array.from(z), pending = null, lastSave = -Infinity;
  function send() {
    model.set("z", Array.from(z));
    if (d.noKernel || inKernel()) return save();
    if (pending) return;
    const wait = lastSave + KERNEL_EVERY_MS - performance.now();
    if (wait > 0) pending = { timer: setTimeout(save, wait) };
    else pending = { frame: requestAnimationFrame(() => pending && (pending.timer = setTimeout(save, 0))) };
  }
  function save() {
    if (pending) {
      cancelAnimationFrame(pending.frame);
      clearTimeout(pending.timer);
      pending = null;
    }
    lastSave = performance.now();
    sent = Array.from(z);
    model.set("z", sent);
    model.save_changes();
  }
  function say(text) {
    message.textContent = text;
  }
  function clip() {
    let clipped = 0;
    for (let i = 0; i < z.length; i++) {
      if (Math.abs(z[i]) > span) {
        z[i] = Math.sign(z[i]) * span;
        clipped++;
      }
    }
    return clipped;
  }
  function setCode(values) {
    z = Float32Array.from(values);
    const clipped = clip();
    showSliders();
    paint();
    send();
    return clipped;
  }
  function showBand(i) {
    const stds = i === null ? null : d.stds.subarray(i * d.latent, (i + 1) * d.latent);
    const mean = i === null ? null : codeOf(d, i);
    for (const r of rows) {
      if (!stds) {
        r.band.style.display = "none";
        continue;
      }
      const lo = Math.max(-span, mean[r.dim] - stds[r.dim]), hi = Math.min(span, mean[r.dim] + stds[r.dim]);
      Object.assign(r.band.style, { display: "block", left: `${((lo + span) / (2 * span)) * 100}%`,
                                    width: `${(Math.max(hi - lo, 0) / (2 * span)) * 100}%` });
      r.band.title = `q(z|x): mean ${mean[r.dim].toFixed(2)} ± σ ${stds[r.dim].toFixed(2)}`;
    }
  }
  function showOriginal(i) {
    if (i < 0 || i >= d.count) {
      showBand(null);
      return;
    }
    paintDigit(originalCtx, imageOf(d, i), d.side, 0, 0, SCALE);
    posterior.disabled = false;
    caption.textContent = `original: test image ${i}, ${d.classNames[d.labels[i]]}`;
    showBand(i);
  }
  function startFrom(i) {
    if (!Number.isInteger(i) || i < 0 || i >= d.count) {
      say(`there is no test image ${index.value}: choose an index from 0 to ${d.count - 1}`);
      return;
    }
    if (conditional) condition.value = d.labels[i];
    const clipped = setCode(codeOf(d, i));
    index.value = i;
    showOriginal(i);
    model.set("index", i);
    model.set("shown", i);
    if (conditional) model.set("label", d.labels[i]);
    save();
    say(clipped ? `${clipped} values lie beyond ±${span.toFixed(2)} and were clipped; raise the temperature` : "");
  }

  posterior.addEventListener("click", () => {
    const i = model.get("shown");
    if (i < 0) return;
    const mean = codeOf(d, i), stds = d.stds.subarray(i * d.latent, (i + 1) * d.latent);
    const label = conditional ? d.labels[i] : null;
    const images = Array.from({ length: SAMPLES }, () =>
      decode(d.decoder, Array.from(mean, (m, k) => m + Math.abs(stds[k]) * normal()), label));
    const sctx = strip.getContext("2d");
    sctx.fillStyle = "white";
    sctx.fillRect(0, 0, strip.width, strip.height);
    images.forEach((img, k) => paintDigit(sctx, img, d.side, k * (d.side + 2) * 2, 0, 2));
    // the average over pixels of each pixel's standard deviation across the samples, in grey levels
    let total = 0;
    for (let p = 0; p < d.pixels; p++) {
      const values = images.map((img) => img[p]);
      const m = values.reduce((a, b) => a + b, 0) / SAMPLES;
      total += Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / SAMPLES);
    }
    spread.textContent = `the reconstructions of test image ${i} vary by ${((255 * total) / d.pixels).toFixed(1)} ` +
      "grey levels a pixel (standard deviation, averaged over pixels)";
  });

  random.addEventListener("click", () => {
    const T = Number(temperature.value);
    const clipped = setCode(Array.from(z, () => T * normal()));
    say(clipped ? `${clipped} values beyond ±${span.toFixed(2)} were clipped to the sliders' range` : "");
  });
  reset.addEventListener("click", () => {
    setCode(new Float32Array(z.length));
    say("");
  });
  fromDigit.addEventListener("click", () => startFrom(Number(index.value)));
  classes.addEventListener("change", () => {
    if (classes.value === "") return;
    const wanted = Number(classes.value);
    const after = model.get("shown");
    let found = -1;
    for (let k = 1; k <= d.count; k++) {
      const i = (after + k + d.count) % d.count;
      if (d.labels[i] === wanted) {
        found = i;
        break;
      }
    }
    classes.value = "";
    if (found < 0) say(`none of the ${d.count} images is ${d.classNames[wanted]}`);
    else startFrom(found);
  });
  temperature.addEventListener("input", () => {
    temperatureText.textContent = Number(temperature.value).toFixed(2);
  });
  temperature.addEventListener("change", () => {
    model.set("temperature", Number(temperature.value));
    save();
    onTemperature();
  });
  condition.addEventListener("change", () => {
    paint();
    model.set("label", Number(condition.value));
    save();
  });

  function onTemperature() {
    const T = model.get("temperature");
    temperature.value = T;
    temperatureText.textContent = T.toFixed(2);
    span = SPAN * T;
    const clipped = clip();
    showSliders();
    showBand(model.get("shown") >= 0 ? model.get("shown") : null);
    if (clipped) {
      paint();
      send();
    }
  }

  // -- the kernel's changes ---------------------------------------------------------
  const same = (a, b) => a.length === b.length && a.every((v, i) => Math.fround(v) === Math.fround(b[i]));
  const onZ = () => {
    const next = model.get("z");
    if (same(next, z)) return; // our own echo
    if (pending && same(next, sent)) {
      model.set("z", Array.from(z)); // the echo of an older code: the page is ahead, and will tell the kernel
      return;
    }
    z = Float32Array.from(next);
    showSliders();
    paint();
  };
  const onShown = () => showOriginal(model.get("shown"));
  const onMessage = () => say(model.get("message"));
  const onLabel = () => {
    condition.value = model.get("label");
    paint();
  };
  const onIndex = () => (index.value = model.get("index"));
  const onKernel = () => {
    el.dataset.kernelCode = model.get("kernel_code");
    code.title = `the kernel has ${model.get("kernel_code")}`;
  };
  const onKernelDecodes = () => (el.dataset.kernelDecodes = model.get("kernel_decodes"));
  onKernel();
  onKernelDecodes();
  // every listener once, so that the view's clean-up below removes exactly what it added
  const listeners = [["change:kernel_code", onKernel], ["change:kernel_decodes", onKernelDecodes],
                     ["change:decoding", onDecoding], ["msg:custom", onDecoded], ["change:z", onZ],
                     ["change:shown", onShown], ["change:message", onMessage], ["change:temperature", onTemperature],
                     ["change:label", onLabel], ["change:index", onIndex], ["change:nearest", showNearest]];
  for (const [event, handler] of listeners) model.on(event, handler);

  showSliders();
  showOriginal(model.get("shown"));
  say(model.get("message"));
  if (d.noKernel || model.get("decoding") === "browser") chooseWhereToDecode();
  if (inKernel()) model.send({ request: "decoded" }); // this view's first digit, from the kernel
  onDecoding();
  paint();
  el.dataset.ready = "1"; // for the browser tests: the widget has painted its first digit
  return () => {
    if (pending) save(); // the kernel hears the last code even when the view goes
    for (const [event, handler] of listeners) model.off(event, handler);
  };
}

export default { render };
