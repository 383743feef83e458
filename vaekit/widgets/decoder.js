// The VAE's decoder in plain JavaScript: codes in, pixel intensities out, no library.
//
// `spec` (written by vaekit/widgets/decoder.py) lists the decoder's layers in order; `weights` is one
// buffer of float32 or float16 numbers holding every layer's parameters at the offsets the spec names.
// The math is kept apart from any page so that Node can run it in the tests (tests/test_decoder_js.py
// compares it with PyTorch's decoding).
//
// Feature maps are kept channels-last (height, width, channel) inside, so that the innermost loop of a
// transposed convolution runs over contiguous output channels; the result is flattened in PyTorch's
// (channel, height, width) order.

function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** The parameters as one Float32Array, whatever they were sent as. `bytes`: a DataView or an ArrayBuffer. */
export function readWeights(bytes, dtype) {
  const view = bytes instanceof DataView ? bytes : new DataView(bytes);
  const size = dtype === "float16" ? 2 : 4;
  const n = view.byteLength / size;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = size === 2 ? halfToFloat(view.getUint16(i * 2, true)) : view.getFloat32(i * 4, true);
  }
  return out;
}

/** A decoder ready to run: the layers with their parameters, laid out for the loops below. */
export function buildDecoder(spec, weights) {
  const layers = spec.layers.map((layer) => {
    if (layer.type === "linear") {
      return { ...layer, w: weights.subarray(layer.weight, layer.weight + layer.out * layer.in),
               b: weights.subarray(layer.bias, layer.bias + layer.out) };
    }
    if (layer.type === "conv_transpose") {
      // PyTorch's (in, out, kh, kw) -> (in, kh, kw, out): the innermost loop walks contiguous outputs
      const { cin, cout, k } = layer;
      const w = new Float32Array(cin * cout * k * k);
      for (let ci = 0; ci < cin; ci++)
        for (let co = 0; co < cout; co++)
          for (let kh = 0; kh < k; kh++)
            for (let kw = 0; kw < k; kw++)
              w[((ci * k + kh) * k + kw) * cout + co] = weights[layer.weight + ((ci * cout + co) * k + kh) * k + kw];
      return { ...layer, w, b: weights.subarray(layer.bias, layer.bias + cout) };
    }
    return { ...layer };
  });
  return { spec, layers, latent: spec.latent, classes: spec.classes, pixels: spec.pixels };
}

function linear(layer, x) {
  const { w, b } = layer;
  const n = layer.in;
  const out = new Float32Array(layer.out);
  for (let o = 0; o < layer.out; o++) {
    let sum = b[o];
    const row = o * n;
    for (let i = 0; i < n; i++) sum += w[row + i] * x[i];
    out[o] = sum;
  }
  return out;
}

function convTranspose(layer, x, shape) {
  // x: (h, w, cin) channels-last; returns (oh, ow, cout) channels-last
  const [h, wd] = shape;
  const { cin, cout, k, stride, padding, output_padding: extra } = layer;
  const oh = (h - 1) * stride - 2 * padding + k + extra;
  const ow = (wd - 1) * stride - 2 * padding + k + extra;
  const out = new Float32Array(oh * ow * cout);
  for (let p = 0; p < oh * ow; p++) out.set(layer.b, p * cout);
  const w = layer.w;
  for (let ih = 0; ih < h; ih++) {
    for (let iw = 0; iw < wd; iw++) {
      const inBase = (ih * wd + iw) * cin;
      for (let kh = 0; kh < k; kh++) {
        const y = ih * stride - padding + kh;
        if (y < 0 || y >= oh) continue;
        for (let kw = 0; kw < k; kw++) {
          const xo = iw * stride - padding + kw;
          if (xo < 0 || xo >= ow) continue;
          const outBase = (y * ow + xo) * cout;
          for (let ci = 0; ci < cin; ci++) {
            const v = x[inBase + ci];
            if (v === 0) continue; // after a ReLU most inputs are 0
            const wBase = ((ci * k + kh) * k + kw) * cout;
            for (let co = 0; co < cout; co++) out[outBase + co] += v * w[wBase + co];
          }
        }
      }
    }
  }
  return [out, [oh, ow, cout]];
}

const ACTIVATIONS = {
  elu: (v) => (v > 0 ? v : Math.expm1(v)),
  relu: (v) => (v > 0 ? v : 0),
  tanh: Math.tanh,
};

/**
 * Decode one code: `z` (latent numbers), `label` (a class index, or null for an unconditional model)
 * -> Float32Array of C*H*W pixel intensities in [0, 1], in PyTorch's (channel, height, width) order.
 */
export function decode(decoder, z, label = null) {
  let x = new Float32Array(decoder.latent + decoder.classes);
  for (let i = 0; i < decoder.latent; i++) x[i] = z[i];
  if (decoder.classes > 0) x[decoder.latent + (label ?? 0)] = 1; // the one-hot class after the code
  let shape = null; // null: a flat vector; [h, w, c]: a channels-last feature map
  for (const layer of decoder.layers) {
    switch (layer.type) {
      case "linear":
        x = linear(layer, x);
        break;
      case "unflatten": {
        // PyTorch's (c, h, w) order -> channels-last
        const [c, h, w] = layer.shape;
        const hwc = new Float32Array(x.length);
        for (let ci = 0; ci < c; ci++)
          for (let p = 0; p < h * w; p++) hwc[p * c + ci] = x[ci * h * w + p];
        x = hwc;
        shape = [h, w, c];
        break;
      }
      case "conv_transpose":
        [x, shape] = convTranspose(layer, x, shape);
        break;
      case "flatten":
        if (shape !== null) {
          const [h, w, c] = shape;
          const chw = new Float32Array(x.length);
          for (let ci = 0; ci < c; ci++)
            for (let p = 0; p < h * w; p++) chw[ci * h * w + p] = x[p * c + ci];
          x = chw;
          shape = null;
        }
        break;
      default: {
        const f = ACTIVATIONS[layer.type];
        if (!f) throw new Error(`vaekit: no JavaScript for the decoder layer ${layer.type}`);
        for (let i = 0; i < x.length; i++) x[i] = f(x[i]);
      }
    }
  }
  for (let i = 0; i < x.length; i++) x[i] = 1 / (1 + Math.exp(-x[i])); // logits -> intensities
  return x;
}

/** Intensities in [0, 1] -> 0..255, rounded as vaekit.plotting.to_uint8 does. */
export function toByte(v) {
  return Math.floor(Math.min(Math.max(v, 0), 1) * 255 + 0.5);
}

/** Paint one grey image (intensities, side x side) into a canvas's 2-D context at (x, y), `scale` px a pixel. */
export function paintDigit(ctx, pixels, side, x = 0, y = 0, scale = 1) {
  const image = ctx.createImageData(side, side);
  for (let i = 0; i < side * side; i++) {
    const v = toByte(pixels[i]);
    image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = v;
    image.data[4 * i + 3] = 255;
  }
  if (scale === 1) {
    ctx.putImageData(image, x, y);
    return;
  }
  // putImageData ignores transforms: draw at 1:1 on a scratch canvas, then scale without smoothing
  const scratch = paintDigit.scratch ?? (paintDigit.scratch = document.createElement("canvas"));
  scratch.width = side;
  scratch.height = side;
  scratch.getContext("2d").putImageData(image, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(scratch, x, y, side * scale, side * scale);
}

/** Codes from z0 to z1, `steps` of them, as vaekit.latent.interpolate computes them. */
export function interpolate(z0, z1, steps, method = "linear") {
  const n = z0.length;
  const norm = (v) => Math.sqrt(v.reduce((s, a) => s + a * a, 0));
  const n0 = norm(z0), n1 = norm(z1);
  let omega = 0;
  if (method === "spherical" && n0 > 0 && n1 > 0) {
    let cos = 0;
    for (let i = 0; i < n; i++) cos += (z0[i] / n0) * (z1[i] / n1);
    omega = Math.acos(Math.min(1, Math.max(-1, cos)));
  }
  const codes = [];
  for (let s = 0; s < steps; s++) {
    const t = steps === 1 ? 0 : s / (steps - 1);
    const code = new Float32Array(n);
    if (method !== "spherical" || Math.abs(omega) < 1e-4) {
      for (let i = 0; i < n; i++) code[i] = (1 - t) * z0[i] + t * z1[i];
    } else {
      const a = Math.sin((1 - t) * omega) / Math.sin(omega), b = Math.sin(t * omega) / Math.sin(omega);
      const length = (1 - t) * n0 + t * n1;
      for (let i = 0; i < n; i++) code[i] = (a * (z0[i] / n0) + b * (z1[i] / n1)) * length;
    }
    codes.push(code);
  }
  return codes;
}
