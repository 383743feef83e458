// The interpolator: the decoded path between two test images' codes, computed and decoded here, in the
// browser; Play walks along it without the kernel. Python reads and sets start, end, method, steps, frame.
// The GIF button asks the kernel to write the path as a GIF (vaekit/widgets/_common.py, write_gif).
// Under the strip, the dataset classifier's reading of each frame: the kernel reads its own decoding of the
// path whenever the path changes and sends `probabilities` for `probabilities_path`; until they match the
// path on screen, the bars wait (a page with no kernel keeps the reading of the path it was written with).
import { decode, interpolate, paintDigit } from "./decoder.js";
import { PALETTE, codeOf, digitCanvas, element, loadModelData } from "./data.js";

const SCALE = 8; // the frame: 224 px
const STRIP_SCALE = 3;
const GAP = 2; // px between the strip's digits, before scaling
const INTERVAL_MS = 150;
const BAR_HEIGHT = 60; // px: a frame's stacked bar of class probabilities
const LABEL_HEIGHT = 28; // px: its most probable class and that class's probability, under the bar
const LEGEND_SHARE = 0.05; // the legend names the classes that reach 5 % in some frame

const percent = (p) => `${Math.round(100 * p)} %`;
const topClass = (row) => row.indexOf(Math.max(...row));

/** "4 in frames 0–8, 9 in 9–11": the runs of the most probable class along the path. */
function runsOf(tops, names) {
  const runs = [];
  tops.forEach((t, k) => (k > 0 && t === tops[k - 1] ? (runs.at(-1).last = k) : runs.push({ t, first: k, last: k })));
  return runs.map((r, i) => `${names[r.t]} in ${i === 0 ? "frames " : ""}` +
                            (r.first === r.last ? `${r.first}` : `${r.first}–${r.last}`)).join(", then ");
}

async function render({ model, el }) {
  const d = await loadModelData(model, el);
  const conditional = d.spec.classes > 0;
  const root = element("div", "vaekit-root");
  root.dataset.lmSuppressShortcuts = "true"; // arrow keys move our sliders, not JupyterLab's cell selection
  root.addEventListener("keydown", (e) => e.stopPropagation()); // nor reach the notebook, which takes the focus
  el.appendChild(root);

  const chooser = (name, title) => {
    const box = element("label", `vaekit-${name}-index`, `${title} `);
    const input = Object.assign(element("input"), { type: "number", min: 0, max: d.count - 1 });
    box.append(input);
    const classBox = element("label", `vaekit-${name}-class`, "class ");
    const select = element("select");
    select.append(Object.assign(element("option", "", "…"), { value: "" }));
    d.classNames.forEach((n, i) => select.append(Object.assign(element("option", "", n), { value: i })));
    classBox.append(select);
    return { box, input, classBox, select };
  };
  const start = chooser("start", "from"), end = chooser("end", "to");
  const methods = element("span", "vaekit-method");
  const methodButtons = ["linear", "spherical"].map((m) => {
    const b = element("button", "", m);
    b.dataset.method = m;
    b.addEventListener("click", () => commit({ method: m }));
    methods.append(b);
    return b;
  });
  const stepsBox = element("label", "vaekit-steps", "steps ");
  const steps = Object.assign(element("input"), { type: "range", min: 2, max: 20, step: 1 });
  const stepsText = element("span", "vaekit-readout");
  stepsBox.append(steps, stepsText);
  const caption = element("div", "vaekit-caption");
  const strip = element("canvas", "vaekit-strip");
  const classBars = element("canvas", "vaekit-class-bars");
  const classCaption = element("div", "vaekit-caption vaekit-class-caption");
  const classLegend = element("div", "vaekit-caption vaekit-class-legend");
  const playBox = element("span", "vaekit-play");
  const play = element("button", "vaekit-play-button", "▶");
  play.title = "play the walk";
  const stop = element("button", "vaekit-stop-button", "■");
  stop.title = "stop, back to the start";
  playBox.append(play, stop);
  const frameBox = element("label", "vaekit-frame-slider", "frame ");
  const frameInput = Object.assign(element("input"), { type: "range", min: 0, step: 1 });
  frameBox.append(frameInput);
  // The GIF button: the kernel writes the path shown, there and back, to `gif_path` and answers on `message`.
  // A page with no kernel (export-html, a saved notebook converted to HTML) has no one to write it: no button.
  const gif = element("button", "vaekit-gif-button", "GIF");
  gif.title = "write this path, there and back, as an animated GIF (in the notebook's folder)";
  gif.style.display = d.noKernel ? "none" : "";
  gif.addEventListener("click", () => model.send({ event: "gif" }));
  const frame = digitCanvas(d, "vaekit-frame", SCALE);
  const frameReading = element("div", "vaekit-caption vaekit-frame-reading");
  const message = element("div", "vaekit-message");
  const row1 = element("div", "vaekit-row");
  row1.append(start.box, start.classBox, end.box, end.classBox);
  const row2 = element("div", "vaekit-row");
  row2.append(methods, stepsBox);
  const row3 = element("div", "vaekit-row");
  row3.append(playBox, frameBox, gif);
  root.append(row1, row2, caption, strip, classBars, classCaption, classLegend, row3, frame, frameReading, message);

  let frames = []; // decoded images along the path
  let timer = null;

  function labelOf(i) {
    return conditional ? d.labels[i] : null;
  }
  function redraw() {
    const s = model.get("start"), e = model.get("end"), n = model.get("steps"), method = model.get("method");
    start.input.value = s;
    end.input.value = e;
    steps.value = n;
    stepsText.textContent = n;
    methodButtons.forEach((b) => b.classList.toggle("vaekit-on", b.dataset.method === method));
    frameInput.max = n - 1;
    const codes = interpolate(codeOf(d, s), codeOf(d, e), n, method);
    // a conditional model: the class switches halfway along the walk
    frames = codes.map((c, k) => decode(d.decoder, c, labelOf(k < n / 2 ? s : e)));
    const side = d.side, cell = side + GAP;
    strip.width = (n * cell + GAP) * STRIP_SCALE;
    strip.height = (side + 2 * GAP) * STRIP_SCALE;
    const ctx = strip.getContext("2d");
    ctx.fillStyle = "white";
    ctx.fillRect(0, 0, strip.width, strip.height);
    frames.forEach((f, k) => paintDigit(ctx, f, side, (GAP + k * cell) * STRIP_SCALE, GAP * STRIP_SCALE, STRIP_SCALE));
    caption.textContent = `${method} path from test image ${s} (${d.classNames[d.labels[s]]}) to ${e} ` +
      `(${d.classNames[d.labels[e]]}), ${n} steps; the ends are the two images' reconstructions`;
    showFrame();
  }
  function showFrame() {
    const k = Math.min(model.get("frame"), frames.length - 1);
    frameInput.value = k;
    paintDigit(frame.getContext("2d"), frames[k], d.side, 0, 0, SCALE);
    showClasses(k);
  }
  function pathKey() {
    return `${model.get("start")} ${model.get("end")} ${model.get("method")} ${model.get("steps")}`;
  }
  function reading() {
    // the kernel's probabilities (steps x classes) if they are those of the path on screen, else null
    const p = model.get("probabilities") ?? [];
    return model.get("probabilities_path") === pathKey() && p.length === model.get("steps") ? p : null;
  }
  function showClasses(current) {
    const note = model.get("classifier_note") ?? "", readFor = model.get("probabilities_path") ?? "";
    const p = reading();
    classBars.style.display = readFor && (p || !d.noKernel) ? "" : "none";
    classLegend.textContent = frameReading.textContent = "";
    classBars.dataset.top = "";
    if (!readFor) { // classes=False: nothing; no classifier for this dataset: the line that says so
      classCaption.textContent = note;
      classCaption.style.display = note ? "" : "none";
      return;
    }
    classCaption.style.display = "";
    const cell = d.side + GAP;
    classBars.width = strip.width;
    classBars.height = BAR_HEIGHT + LABEL_HEIGHT;
    const ctx = classBars.getContext("2d");
    ctx.clearRect(0, 0, classBars.width, classBars.height);
    if (!p) {
      const [s, e, method, steps] = readFor.split(" ");
      classCaption.textContent = d.noKernel
        ? `${note} read this page's first path (test image ${s} to ${e}, ${method}, ${steps} steps); ` +
          "with no kernel behind the page, other paths are not read"
        : `${note} is reading the frames…`;
      return;
    }
    const tops = p.map(topClass);
    classBars.dataset.top = tops.map((t) => d.classNames[t]).join(" ");
    ctx.font = "11px sans-serif";
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    p.forEach((row, k) => {
      const x = (GAP + k * cell) * STRIP_SCALE, width = d.side * STRIP_SCALE;
      let y = BAR_HEIGHT;
      row.forEach((share, c) => { // class 0 at the bottom
        ctx.fillStyle = PALETTE[c % PALETTE.length];
        ctx.fillRect(x, y - share * BAR_HEIGHT, width, share * BAR_HEIGHT);
        y -= share * BAR_HEIGHT;
      });
      if (k === current) {
        ctx.strokeStyle = "#222";
        ctx.lineWidth = 2;
        ctx.strokeRect(x + 1, 1, width - 2, BAR_HEIGHT - 2);
      }
      ctx.fillStyle = "#222";
      const name = d.classNames[tops[k]];
      ctx.fillText(ctx.measureText(name).width > width ? `${name.slice(0, 6)}…` : name, x + width / 2, BAR_HEIGHT + 2);
      ctx.fillText(percent(row[tops[k]]), x + width / 2, BAR_HEIGHT + 15);
      if (k > 0 && tops[k] !== tops[k - 1]) { // the frame where the reading changes: a red line before it
        ctx.fillStyle = "#d00";
        ctx.fillRect(x - GAP * STRIP_SCALE / 2 - 1, 0, 3, classBars.height);
      }
    });
    const changes = tops.filter((t, k) => k > 0 && t !== tops[k - 1]).length;
    classCaption.textContent = `${note} reads ${runsOf(tops, d.classNames)}` +
      (changes ? "; a red line marks each change" : "") +
      (d.noKernel ? " (read when this page was written: with no kernel, other paths are not read)" : "");
    const shown = d.classNames.map((_, c) => c).filter((c) => p.some((row) => row[c] >= LEGEND_SHARE));
    for (const c of shown) {
      const swatch = element("span", "", "■ ");
      swatch.style.color = PALETTE[c % PALETTE.length];
      classLegend.append(swatch, `${d.classNames[c]}  `);
    }
    const row = p[current], order = row.map((_, c) => c).sort((a, b) => row[b] - row[a]);
    frameReading.textContent = `frame ${current}: the classifier reads ` +
      order.slice(0, 3).filter((c, i) => i === 0 || row[c] >= 0.01).map((c) => `${d.classNames[c]} (${percent(row[c])})`)
        .join(", ");
  }
  function commit(changes) {
    for (const [key, value] of Object.entries(changes)) model.set(key, value);
    model.save_changes();
    redraw();
  }
  function checkedIndex(input, previous) {
    const i = Number(input.value);
    if (!Number.isInteger(i) || i < 0 || i >= d.count) {
      message.textContent = `there is no test image ${input.value}: choose an index from 0 to ${d.count - 1}`;
      input.value = previous;
      return previous;
    }
    message.textContent = "";
    return i;
  }
  function nextOfClass(wanted, after) {
    for (let k = 1; k <= d.count; k++) {
      const i = (after + k) % d.count;
      if (d.labels[i] === wanted) return i;
    }
    message.textContent = `none of the ${d.count} images is ${d.classNames[wanted]}`;
    return after;
  }
  start.input.addEventListener("change", () => commit({ start: checkedIndex(start.input, model.get("start")) }));
  end.input.addEventListener("change", () => commit({ end: checkedIndex(end.input, model.get("end")) }));
  for (const [which, c] of [["start", start], ["end", end]]) {
    c.select.addEventListener("change", () => {
      if (c.select.value === "") return;
      const i = nextOfClass(Number(c.select.value), model.get(which));
      c.select.value = "";
      commit({ [which]: i });
    });
  }
  steps.addEventListener("input", () => (stepsText.textContent = steps.value));
  steps.addEventListener("change", () => commit({ steps: Number(steps.value), frame: Math.min(model.get("frame"), Number(steps.value) - 1) }));
  frameInput.addEventListener("input", () => {
    model.set("frame", Number(frameInput.value));
    showFrame();
    model.save_changes();
  });
  function tick() {
    const next = model.get("frame") + 1;
    if (next >= model.get("steps")) {
      halt();
      return;
    }
    model.set("frame", next);
    showFrame();
    model.save_changes();
  }
  function halt() {
    clearInterval(timer);
    timer = null;
    play.textContent = "▶";
  }
  play.addEventListener("click", () => {
    if (timer !== null) {
      halt();
      return;
    }
    if (model.get("frame") >= model.get("steps") - 1) model.set("frame", 0);
    showFrame();
    play.textContent = "❚❚";
    timer = setInterval(tick, INTERVAL_MS);
  });
  stop.addEventListener("click", () => {
    halt();
    model.set("frame", 0);
    model.save_changes();
    showFrame();
  });

  const onPath = () => redraw();
  const onFrame = () => showFrame();
  const onMessage = () => (message.textContent = model.get("message"));
  const readingKeys = ["probabilities", "probabilities_path", "classifier_note"];
  for (const key of ["start", "end", "steps", "method"]) model.on(`change:${key}`, onPath);
  model.on("change:frame", onFrame);
  model.on("change:message", onMessage);
  for (const key of readingKeys) model.on(`change:${key}`, onFrame);
  redraw();
  onMessage();
  el.dataset.ready = "1";
  return () => {
    halt();
    for (const key of ["start", "end", "steps", "method"]) model.off(`change:${key}`, onPath);
    model.off("change:frame", onFrame);
    model.off("change:message", onMessage);
    for (const key of readingKeys) model.off(`change:${key}`, onFrame);
  };
}

export default { render };
