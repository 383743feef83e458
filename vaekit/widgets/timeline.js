// The training time machine: a run's snapshots (vaekit/snapshots.py), scrubbed or played here in the
// browser. The sample grid, the reconstructions, the per-dimension KL bars and the loss curve's marker
// change together; Python reads and sets `epoch` (the frame shown, 0-based index into the snapshots).
import { element } from "./data.js";

const SCALE = 3; // digits at 84 px
const GAP = 2; // px between digits, before scaling
const BAR_W = 16, BAR_H = 90;
const CURVE_W = 360, CURVE_H = 150;

function bytesOf(view) {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function paintGrid(canvas, bytes, first, count, ncol, side) {
  const rows = Math.ceil(count / ncol), cell = side + GAP;
  canvas.width = (ncol * cell + GAP) * SCALE;
  canvas.height = (rows * cell + GAP) * SCALE;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "white";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  const tile = ctx.createImageData(side, side);
  const small = document.createElement("canvas");
  small.width = small.height = side;
  const sctx = small.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  for (let k = 0; k < count; k++) {
    const offset = (first + k) * side * side;
    for (let p = 0; p < side * side; p++) {
      const v = bytes[offset + p];
      tile.data[4 * p] = tile.data[4 * p + 1] = tile.data[4 * p + 2] = v;
      tile.data[4 * p + 3] = 255;
    }
    sctx.putImageData(tile, 0, 0);
    const x = (GAP + (k % ncol) * cell) * SCALE, y = (GAP + Math.floor(k / ncol) * cell) * SCALE;
    ctx.drawImage(small, x, y, side * SCALE, side * SCALE);
  }
}

async function render({ model, el }) {
  const side = model.get("side"), pixels = side * side;
  const samples = bytesOf(model.get("samples")), reconstructions = bytesOf(model.get("reconstructions"));
  const originals = bytesOf(model.get("originals"));
  const nSamples = model.get("n_samples"), nImages = model.get("n_images");
  const kl = model.get("kl"), epochs = model.get("epochs"), losses = model.get("losses");
  const count = epochs.length, latent = kl[0].length;
  const klTop = Math.max(1e-6, ...kl.flat());

  const root = element("div", "vaekit-root");
  el.appendChild(root);
  const controls = element("div", "vaekit-row");
  const play = element("button", "vaekit-play-button", "▶");
  play.title = "play the training";
  const stop = element("button", "vaekit-stop-button", "■");
  stop.title = "stop";
  const scrubBox = element("label", "vaekit-epoch-slider", "epoch ");
  const scrub = Object.assign(element("input"), { type: "range", min: 0, max: count - 1, step: 1 });
  const readout = element("span", "vaekit-epoch-readout");
  scrubBox.append(scrub, readout);
  const gif = element("button", "vaekit-gif-button", "GIF");
  gif.title = "write the whole run as an animated GIF (in the notebook's folder)";
  const message = element("span", "vaekit-message");
  gif.addEventListener("click", () => model.send({ event: "gif" }));
  // The kernel writes the GIF, so the button shows once a kernel answers: a page made from saved widget
  // state (nbconvert's) has none, and sends go nowhere there.
  gif.style.display = "none";
  const onKernelAnswer = (content) => content && content.kernel && (gif.style.display = "");
  const onMessage = () => (message.textContent = model.get("message"));
  controls.append(play, stop, scrubBox, gif, message);
  const pictures = element("div", "vaekit-pictures");
  const left = element("div"), right = element("div");
  left.append(element("div", "vaekit-caption", `${nSamples} fixed codes from the prior, decoded`));
  const grid = element("canvas", "vaekit-timeline-samples");
  left.append(grid);
  right.append(element("div", "vaekit-caption", "test images (rows 1, 3) and their reconstructions"));
  const pairs = element("canvas", "vaekit-timeline-reconstructions");
  right.append(pairs);
  pictures.append(left, right);
  const charts = element("div", "vaekit-pictures");
  const bars = element("canvas", "vaekit-timeline-kl");
  bars.width = Math.max(latent * BAR_W + 40, 240);
  bars.height = BAR_H + 30;
  const curve = element("canvas", "vaekit-timeline-loss");
  curve.width = CURVE_W;
  curve.height = CURVE_H;
  charts.append(bars, curve);
  const caption = element("div", "vaekit-caption vaekit-timeline-caption");
  root.append(controls, pictures, charts, caption);

  // the pairs canvas: originals over reconstructions, half the images a row
  const half = Math.ceil(nImages / 2);
  const pairBytes = new Uint8Array(4 * half * pixels);

  function drawBars(i) {
    const ctx = bars.getContext("2d");
    ctx.fillStyle = "white";
    ctx.fillRect(0, 0, bars.width, bars.height);
    ctx.fillStyle = "#1f77b4";
    kl[i].forEach((v, d) => {
      const h = (BAR_H * Math.max(v, 0)) / klTop;
      ctx.fillRect(30 + d * BAR_W + 2, 10 + BAR_H - h, BAR_W - 4, h);
    });
    ctx.fillStyle = "black";
    ctx.font = "10px sans-serif";
    ctx.fillText(`KL per dimension (max ${klTop.toFixed(1)} nats)`, 30, BAR_H + 25);
  }
  function drawCurve(i) {
    const ctx = curve.getContext("2d");
    ctx.fillStyle = "white";
    ctx.fillRect(0, 0, CURVE_W, CURVE_H);
    const series = [["train_total", "#1f77b4"], ["test_total", "#d62728"]]
      .filter(([name]) => losses[name].some((v) => v !== null && Number.isFinite(v)));
    const values = series.flatMap(([name]) => losses[name].filter((v) => v !== null && Number.isFinite(v)));
    const low = Math.min(...values), high = Math.max(...values), span = Math.max(high - low, 1e-6);
    const x = (k) => 40 + ((CURVE_W - 50) * k) / Math.max(count - 1, 1);
    const y = (v) => 10 + (CURVE_H - 35) * (1 - (v - low) / span);
    for (const [name, color] of series) {
      ctx.strokeStyle = color;
      ctx.beginPath();
      losses[name].forEach((v, k) => (k ? ctx.lineTo(x(k), y(v)) : ctx.moveTo(x(k), y(v))));
      ctx.stroke();
      const v = losses[name][i];
      ctx.fillStyle = color;
      ctx.beginPath();
      ctx.arc(x(i), y(v), 4, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.strokeStyle = "#999";
    ctx.beginPath();
    ctx.moveTo(x(i), 5);
    ctx.lineTo(x(i), CURVE_H - 25);
    ctx.stroke();
    ctx.fillStyle = "black";
    ctx.font = "10px sans-serif";
    ctx.fillText(`${high.toFixed(0)}`, 2, 14);
    ctx.fillText(`${low.toFixed(0)}`, 2, CURVE_H - 25);
    ctx.fillText("-ELBO per image: train (blue), test (red), by epoch", 40, CURVE_H - 8);
  }
  function show() {
    const i = Math.min(Math.max(model.get("epoch"), 0), count - 1);
    scrub.value = i;
    readout.textContent = `${epochs[i] + 1} / ${epochs[count - 1] + 1}`;
    paintGrid(grid, samples, i * nSamples, nSamples, Math.ceil(Math.sqrt(nSamples)), side);
    for (let r = 0; r < 2; r++) {
      const n = Math.min(half, nImages - r * half);
      pairBytes.set(originals.subarray(r * half * pixels, (r * half + n) * pixels), 2 * r * half * pixels);
      const rec = reconstructions.subarray((i * nImages + r * half) * pixels, (i * nImages + r * half + n) * pixels);
      pairBytes.set(rec, (2 * r + 1) * half * pixels);
    }
    paintGrid(pairs, pairBytes, 0, 4 * half, half, side);
    drawBars(i);
    drawCurve(i);
    const test = losses.test_total[i];
    caption.textContent = `after epoch ${epochs[i] + 1}: train -ELBO ${losses.train_total[i].toFixed(2)}` +
      (test !== null && Number.isFinite(test) ? `, test ${test.toFixed(2)}` : "") + " nats per image";
  }

  let timer = null;
  function setEpoch(i) {
    model.set("epoch", i);
    model.save_changes();
    show();
  }
  function halt() {
    if (timer !== null) clearInterval(timer);
    timer = null;
    play.classList.remove("vaekit-on");
  }
  play.addEventListener("click", () => {
    halt();
    if (model.get("epoch") >= count - 1) setEpoch(0);
    play.classList.add("vaekit-on");
    timer = setInterval(() => {
      const next = model.get("epoch") + 1;
      if (next >= count) return halt();
      setEpoch(next);
    }, model.get("interval_ms"));
  });
  stop.addEventListener("click", halt);
  scrub.addEventListener("input", () => {
    halt();
    setEpoch(Number(scrub.value));
  });
  // every listener once, so that the view's clean-up below removes exactly what it added
  const listeners = [["change:epoch", show], ["change:message", onMessage], ["msg:custom", onKernelAnswer]];
  for (const [event, handler] of listeners) model.on(event, handler);
  model.send({ event: "hello" });
  show();
  return () => {
    halt();
    for (const [event, handler] of listeners) model.off(event, handler);
  };
}

export default { render };
