// The interactive latent map: every test image's code as a dot on two directions of the code space (the
// code itself for a 2-D model, else its two principal directions), coloured by class. Hover shows the
// image; click loads its code into the linked sliders; shift-click sets the linked interpolator's ends;
// the sliders' current code is drawn as a marker that follows them.
import { paintDigit } from "./decoder.js";
import { PALETTE, codeOf, digitCanvas, element, imageOf, loadModelData } from "./data.js";

const SIZE = 420;
const MARGIN = 10;

async function linked(model, name) {
  const ref = model.get(name);
  return ref ? model.widget_manager.get_model(ref.replace(/^IPY_MODEL_/, "")) : null;
}

async function render({ model, el }) {
  const d = await loadModelData(model, el);
  const sliders = await linked(model, "sliders");
  const path = await linked(model, "interpolator");
  const { centre, directions } = model.get("projection");
  const project = (code) => directions.map((dir) => dir.reduce((s, w, k) => s + w * (code[k] - centre[k]), 0));
  const points = Array.from({ length: d.count }, (_, i) => project(codeOf(d, i)));
  const xs = points.map((p) => p[0]).sort((a, b) => a - b), ys = points.map((p) => p[1]).sort((a, b) => a - b);
  const lo = [xs[Math.floor(0.005 * xs.length)], ys[Math.floor(0.005 * ys.length)]];
  const hi = [xs[Math.ceil(0.995 * (xs.length - 1))], ys[Math.ceil(0.995 * (ys.length - 1))]];
  const toPixel = ([x, y]) => [MARGIN + ((SIZE - 2 * MARGIN) * (x - lo[0])) / (hi[0] - lo[0] || 1),
                               SIZE - MARGIN - ((SIZE - 2 * MARGIN) * (y - lo[1])) / (hi[1] - lo[1] || 1)];
  const pixels = points.map(toPixel);

  const root = element("div", "vaekit-root");
  root.dataset.lmSuppressShortcuts = "true";
  el.appendChild(root);
  const intro = element("div", "vaekit-intro", model.get("intro"));
  const canvas = element("canvas", "vaekit-map-canvas");
  canvas.width = canvas.height = SIZE;
  const hover = digitCanvas(d, "vaekit-map-hover", 4);
  const caption = element("div", "vaekit-caption", "point at a dot");
  const legend = element("div", "vaekit-caption");
  legend.innerHTML = d.classNames.map((n, i) => `<span style="color:${PALETTE[i % 10]}">●</span> ${n}`).join(" ");
  const side = element("div");
  side.append(hover, caption, legend);
  const row = element("div", "vaekit-row");
  row.style.alignItems = "flex-start";
  row.append(canvas, side);
  root.append(intro, row);

  // the dots, drawn once; each redraw copies them and adds the marker
  const base = document.createElement("canvas");
  base.width = base.height = SIZE;
  const b = base.getContext("2d");
  b.fillStyle = "white";
  b.fillRect(0, 0, SIZE, SIZE);
  b.globalAlpha = 0.6;
  pixels.forEach(([x, y], i) => {
    b.fillStyle = PALETTE[d.labels[i] % 10];
    b.fillRect(x - 1.5, y - 1.5, 3, 3);
  });
  const ctx = canvas.getContext("2d");
  function draw() {
    ctx.drawImage(base, 0, 0);
    if (!sliders) return;
    const [x, y] = toPixel(project(sliders.get("z")));
    ctx.strokeStyle = "black";
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.arc(x, y, 7, 0, 2 * Math.PI);
    ctx.moveTo(x - 11, y);
    ctx.lineTo(x + 11, y);
    ctx.moveTo(x, y - 11);
    ctx.lineTo(x, y + 11);
    ctx.stroke();
    canvas.dataset.marker = `${x.toFixed(1)},${y.toFixed(1)}`; // for the browser tests
  }
  function nearest(event) {
    const r = canvas.getBoundingClientRect();
    const mx = ((event.clientX - r.left) * SIZE) / r.width, my = ((event.clientY - r.top) * SIZE) / r.height;
    let best = -1, bestD = 64; // within 8 px
    pixels.forEach(([x, y], i) => {
      const dd = (x - mx) ** 2 + (y - my) ** 2;
      if (dd < bestD) [best, bestD] = [i, dd];
    });
    return best;
  }
  canvas.addEventListener("mousemove", (event) => {
    const i = nearest(event);
    if (i < 0) return;
    paintDigit(hover.getContext("2d"), imageOf(d, i), d.side, 0, 0, 4);
    caption.textContent = `test image ${i}, ${d.classNames[d.labels[i]]}`;
    canvas.dataset.hovered = i;
  });
  let nextEnd = "start";
  canvas.addEventListener("click", (event) => {
    const i = nearest(event);
    if (i < 0) return;
    if (event.shiftKey && path) {
      path.set(nextEnd, i);
      path.save_changes();
      nextEnd = nextEnd === "start" ? "end" : "start";
      return;
    }
    if (!sliders) return;
    sliders.set("z", Array.from(codeOf(d, i)));
    sliders.set("index", i);
    sliders.set("shown", i);
    sliders.save_changes();
    model.set("clicked", i);
    model.save_changes();
  });
  sliders?.on("change:z", draw);
  draw();
  el.dataset.ready = "1";
  return () => sliders?.off("change:z", draw);
}

export default { render };
