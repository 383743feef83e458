// The model's data in the browser, shared by every explorer of one model: each widget's `data` trait
// names a ModelData widget (vaekit/widgets/decoder.py). Its small part (the decoder's layers, the labels)
// is its state; the binary part (weights, codes, pixels) is asked of the kernel once, on first use, and
// arrives as binary buffers -- or is in the state already, in an exported page (export-html, or a notebook
// saved with its widget state and converted by nbconvert).
import { buildDecoder, readWeights } from "./decoder.js";

const PAYLOAD = ["weights", "codes", "stds", "images"];
// a colour per class, matplotlib's tab10 (the figures' colours), class k takes PALETTE[k % 10]
export const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                        "#bcbd22", "#17becf"];

function asView(buffer) {
  return buffer instanceof DataView ? buffer : new DataView(buffer.buffer ?? buffer, buffer.byteOffset ?? 0,
                                                           buffer.byteLength);
}

// What a page with no kernel says when its saved state lacks the payload: the notebook was saved before its
// explorers were shown, or run by nbconvert --execute, which saves only the kernel's side of the state.
const NO_PAYLOAD =
  "No kernel is running behind this explorer, and the page's saved widget state does not hold the model's " +
  "weights: in JupyterLab, turn on Settings > Save Widget State Automatically, run the notebook, let its " +
  "explorers show, then save it; or write a page with `python -m vaekit export-html`.";

// True in a page with no kernel behind it: export-html's (standalone.js), or one restored from saved widget
// state (nbconvert's page, whose models have no comm to a kernel). Asked of the ModelData model itself: the
// `model` anywidget hands to render() is a proxy without comm_live.
function noKernel(data) {
  return Boolean(data.standalone) || data.comm_live === false;
}

function askTheKernel(data) {
  if (noKernel(data)) return Promise.reject(new Error(NO_PAYLOAD));
  return new Promise((resolve) => {
    const listener = (content, buffers) => {
      if (!content || !Array.isArray(content.payload)) return;
      data.off("msg:custom", listener);
      resolve(Object.fromEntries(content.payload.map((name, i) => [name, asView(buffers[i])])));
    };
    data.on("msg:custom", listener);
    data.send({ request: "payload" });
  });
}

// The payload, once it came from the kernel, is also kept in the model's attributes: a notebook saved with
// its widget state (JupyterLab's "Save Widget State Automatically") then holds it, base64-encoded, and a page
// made from it by nbconvert finds it in the state. No save_changes: nothing goes back to the kernel. Each
// part needs a buffer of its own (copied if it shares one), since the saved state keeps a view's whole
// buffer, not its offset.
function keepInState(data, payload) {
  for (const [name, view] of Object.entries(payload)) {
    const own = view.byteOffset === 0 && view.byteLength === view.buffer.byteLength;
    data.set(name, own ? view : new DataView(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength)));
  }
}

async function unpack(data) {
  const inState = PAYLOAD.every((name) => data.get(name));
  let payload;
  if (inState) {
    payload = Object.fromEntries(PAYLOAD.map((n) => [n, asView(data.get(n))]));
  } else {
    payload = await askTheKernel(data);
    keepInState(data, payload);
  }
  const spec = data.get("spec");
  const asBytes = (view) => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  const asFloats = (view) => new Float32Array(asBytes(view).slice().buffer); // a copy: aligned for Float32Array
  const labels = data.get("labels");
  return {
    spec,
    decoder: buildDecoder(spec, readWeights(payload.weights, spec.dtype)),
    codes: asFloats(payload.codes), // (N, latent): each image's mean code
    stds: asFloats(payload.stds), // (N, latent): and its standard deviation
    images: asBytes(payload.images), // (N, pixels) uint8
    labels,
    classNames: data.get("class_names"),
    side: spec.image_shape[1],
    latent: spec.latent,
    pixels: spec.pixels,
    count: labels.length,
    noKernel: noKernel(data), // nothing to ask of the kernel: no drawing to encode, no new path to classify
  };
}

/** The model's data for the widget drawn in `el`; if it cannot be had, `el` says why (and the promise fails). */
export function loadModelData(model, el) {
  const ref = model.get("data"); // "IPY_MODEL_<id>"
  const loading = model.widget_manager.get_model(ref.replace(/^IPY_MODEL_/, "")).then((data) => {
    data.vaekit ??= unpack(data); // one promise per ModelData: the payload is asked for once
    return data.vaekit;
  });
  return loading.catch((error) => {
    el.append(element("p", "vaekit-unavailable", error.message));
    throw error;
  });
}

export function codeOf(d, index) {
  return d.codes.subarray(index * d.latent, (index + 1) * d.latent);
}

export function imageOf(d, index) {
  const bytes = d.images.subarray(index * d.pixels, (index + 1) * d.pixels);
  return Float32Array.from(bytes, (v) => v / 255);
}

/** An element with a class and optional text, for building the widgets' DOM in a few lines. */
export function element(tag, className = "", text = "") {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text) e.textContent = text;
  return e;
}

export function digitCanvas(d, className, scale) {
  const canvas = element("canvas", className);
  canvas.width = canvas.height = d.side * scale;
  const ctx = canvas.getContext("2d");
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  return canvas;
}
