// The live loss plot, drawn here: the kernel streams new points (custom messages), this module keeps the
// history on the model and redraws the canvas at most once an animation frame. Left: the loss of every
// step (grey) and its moving average (blue); right: the loss per epoch, train and test, in three terms.
import { element } from "./data.js";

const WIDTH = 800, HEIGHT = 290, PAD = { left: 52, right: 12, top: 24, bottom: 34 };
const COLOURS = { total: "#1f77b4", reconstruction: "#ff7f0e", kl: "#2ca02c" };

function store(model) {
  if (!model.vaekitLoss) {
    const history = model.get("history") ?? { steps: [], epochs: [] };
    model.vaekitLoss = { steps: [...history.steps], epochs: [...history.epochs], views: new Set() };
  }
  return model.vaekitLoss;
}

// Listen from the model's creation: points sent before a view exists are kept.
function initialize({ model }) {
  const data = store(model);
  model.on("msg:custom", (message) => {
    if (message.reset) {
      data.steps = [];
      data.epochs = [];
    }
    if (message.steps) data.steps.push(...message.steps);
    if (message.epochs) data.epochs.push(...message.epochs);
    for (const redraw of data.views) redraw();
  });
}

/** The bias-corrected moving average of plotting.smooth, same default weight. */
export function smooth(values) {
  const weight = Math.max(0, 1 - Math.max(0.02, 10 / Math.max(values.length, 1)));
  const out = new Float64Array(values.length);
  let average = 0;
  for (let i = 0; i < values.length; i++) {
    average = weight * average + (1 - weight) * values[i];
    out[i] = average / (1 - weight ** (i + 1));
  }
  return out;
}

function percentile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))))];
}

function panel(ctx, x0, width, title, xLabel, xMax, yMin, yMax, series) {
  const top = PAD.top, bottom = HEIGHT - PAD.bottom;
  const left = x0 + PAD.left, right = x0 + width - PAD.right;
  const sx = (x) => left + ((right - left) * x) / Math.max(xMax, 1);
  const sy = (y) => bottom - ((bottom - top) * (y - yMin)) / Math.max(yMax - yMin, 1e-9);
  ctx.strokeStyle = "#999";
  ctx.strokeRect(left, top, right - left, bottom - top);
  ctx.fillStyle = "#222";
  ctx.font = "12px sans-serif";
  ctx.fillText(title, left, top - 8);
  ctx.fillText(xLabel, (left + right) / 2 - 12, HEIGHT - 6);
  ctx.font = "10px sans-serif";
  for (let k = 0; k <= 4; k++) {
    const y = yMin + ((yMax - yMin) * k) / 4;
    ctx.fillText(y.toFixed(y >= 100 ? 0 : 1), x0 + 4, sy(y) + 3);
    ctx.fillText(String(Math.round((xMax * k) / 4)), sx((xMax * k) / 4) - 6, bottom + 12);
  }
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, right - left, bottom - top);
  ctx.clip();
  for (const s of series) {
    ctx.strokeStyle = s.colour;
    ctx.lineWidth = s.width ?? 1.5;
    ctx.setLineDash(s.dash ?? []);
    ctx.beginPath();
    s.points.forEach(([x, y], i) => (i ? ctx.lineTo(sx(x), sy(y)) : ctx.moveTo(sx(x), sy(y))));
    ctx.stroke();
  }
  ctx.restore();
}

function render({ model, el }) {
  const data = store(model);
  const canvas = element("canvas", "vaekit-live-loss-canvas");
  canvas.width = WIDTH;
  canvas.height = HEIGHT;
  el.appendChild(canvas);
  const ctx = canvas.getContext("2d");
  let pending = false;

  function draw() {
    pending = false;
    ctx.fillStyle = "white";
    ctx.fillRect(0, 0, WIDTH, HEIGHT);
    const steps = data.steps;
    let low = 0, high = 1;
    if (steps.length) {
      // the first steps' losses are far above the rest: keep them off the scale
      const sorted = Float64Array.from(steps).sort();
      [low, high] = steps.length > 20 ? [percentile(sorted, 0.005), percentile(sorted, 0.99)] : [sorted[0], sorted.at(-1)];
      const margin = 0.05 * (high - low) + 1e-6;
      [low, high] = [low - margin, high + margin];
    }
    const smoothed = smooth(steps);
    // at most ~2 points a pixel: long histories stay cheap to draw
    const stride = Math.max(1, Math.floor(steps.length / (2 * WIDTH)));
    const raw = [], avg = [];
    for (let i = 0; i < steps.length; i += stride) {
      raw.push([i, steps[i]]);
      avg.push([i, smoothed[i]]);
    }
    panel(ctx, 0, WIDTH / 2, "Training, step by step (nats / image)", "step", steps.length, low, high, [
      { colour: "#ccc", width: 1, points: raw },
      { colour: COLOURS.total, points: avg },
    ]);
    const epochs = data.epochs;
    const values = epochs.flatMap((e) => Object.entries(e).filter(([k]) => k !== "epoch").map(([, v]) => v));
    const series = [];
    for (const term of Object.keys(COLOURS)) {
      for (const split of ["train", "test"]) {
        const points = epochs.filter((e) => `${split}_${term}` in e).map((e) => [e.epoch, e[`${split}_${term}`]]);
        if (points.length) series.push({ colour: COLOURS[term], dash: split === "test" ? [5, 3] : [], points });
      }
    }
    const eMin = values.length ? Math.min(...values) : 0, eMax = values.length ? Math.max(...values) : 1;
    panel(ctx, WIDTH / 2, WIDTH / 2, "Per epoch: total, reconstruction, KL (test dashed)", "epoch",
          epochs.length ? epochs.at(-1).epoch : 1, Math.min(0, eMin), eMax * 1.05 + 1e-6, series);
    canvas.dataset.points = `${steps.length}/${epochs.length}`; // for the browser test: what is drawn
  }
  const redraw = () => {
    if (!pending) {
      pending = true;
      requestAnimationFrame(draw);
    }
  };
  const onHistory = () => {
    const history = model.get("history");
    if (history.steps.length >= data.steps.length) {
      data.steps = [...history.steps];
      data.epochs = [...history.epochs];
    }
    redraw();
  };
  data.views.add(redraw);
  model.on("change:history", onHistory);
  draw();
  return () => {
    data.views.delete(redraw);
    model.off("change:history", onHistory);
  };
}

export default { initialize, render };
