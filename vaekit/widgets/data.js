// The model's data in the browser, shared by every explorer of one model: each widget's `data` trait
// names a ModelData widget (vaekit/widgets/decoder.py); its decoder is unpacked once, on first use.
import { buildDecoder, readWeights } from "./decoder.js";

export async function loadModelData(model) {
  const ref = model.get("data"); // "IPY_MODEL_<id>"
  const data = await model.widget_manager.get_model(ref.replace(/^IPY_MODEL_/, ""));
  if (!data.vaekit) {
    const spec = data.get("spec");
    const asBytes = (view) => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
    const asFloats = (view) => {
      const bytes = asBytes(view).slice(); // a copy: aligned for Float32Array
      return new Float32Array(bytes.buffer);
    };
    data.vaekit = {
      spec,
      decoder: buildDecoder(spec, readWeights(data.get("weights"), spec.dtype)),
      codes: asFloats(data.get("codes")), // (N, latent): each image's mean code
      stds: asFloats(data.get("stds")), // (N, latent): and its standard deviation
      images: asBytes(data.get("images")), // (N, pixels) uint8
      labels: data.get("labels"),
      classNames: data.get("class_names"),
      side: spec.image_shape[1],
      latent: spec.latent,
      pixels: spec.pixels,
      count: data.get("labels").length,
    };
  }
  return data.vaekit;
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
