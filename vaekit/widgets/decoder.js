// The VAE's decoder in plain JavaScript: codes in, pixel intensities out, no library.
//
// `spec` (written by vaekit/widgets/decoder.py) lists the decoder's layers in order; `weights` is one
// buffer of float32 or float16 numbers holding every layer's parameters at the offsets the spec names.
// The math is kept apart from any page so that Node can run it in the tests (tests/test_decoder_js.py
// compares it with PyTorch's decoding).
//
// Feature maps are kept channels-last (height, width, channel) inside, so that the innermost loop of a
// transposed convolution runs over contiguous input channels; the result is flattened in PyTorch's
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
  let shape = null; // the feature map's [h, w] where one flows (after an unflatten), for the convolutions
  const layers = spec.layers.map((layer) => {
    if (layer.type === "linear") {
      return { ...layer, w: weights.subarray(layer.weight, layer.weight + layer.out * layer.in),
               b: weights.subarray(layer.bias, layer.bias + layer.out) };
    }
    if (layer.type === "unflatten") shape = layer.shape.slice(1);
    if (layer.type === "flatten") shape = null;
    if (layer.type === "conv_transpose") {
      if (shape === null) throw new Error("vaekit: a transposed convolution needs a feature map (an unflatten first)");
      const built = convTransposeLayer(layer, weights, shape[0], shape[1]);
      shape = [built.oh, built.ow];
      return built;
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

// A transposed convolution, computed output by output ("gather"): output row y takes input row ih
// through kernel row kh where ih * stride - padding + kh = y. Those (ih, kh) pairs are listed once per
// layer (for a stride of 2, one or two per row), so the loops visit only taps that contribute. Each
// output pixel's channels are summed BLOCK at a time in local variables (registers, not memory), over the
// input's non-zero channels only: after a ReLU about half are 0, listed once per input pixel.
const BLOCK = 8;

/** The layer's weights as (kh, kw, output block, cin, BLOCK), its tap lists, and its buffers (reused). */
function convTransposeLayer(layer, weights, h, wd) {
  const { cin, cout, k, stride, padding, output_padding: extra } = layer;
  const oh = (h - 1) * stride - 2 * padding + k + extra;
  const ow = (wd - 1) * stride - 2 * padding + k + extra;
  const block = cout % BLOCK === 0 ? BLOCK : 1;
  const blocks = cout / block;
  const w = new Float32Array(k * k * cout * cin);
  for (let ci = 0; ci < cin; ci++)
    for (let co = 0; co < cout; co++)
      for (let kh = 0; kh < k; kh++)
        for (let kw = 0; kw < k; kw++) {
          const at = (((kh * k + kw) * blocks + Math.floor(co / block)) * cin + ci) * block + (co % block);
          w[at] = weights[layer.weight + ((ci * cout + co) * k + kh) * k + kw]; // PyTorch's (cin, cout, kh, kw)
        }
  function taps(size, outSize) {
    // for each output index o: the input indices i and kernel indices t with i * stride - padding + t = o
    const first = new Int32Array(outSize + 1), source = [], tap = [];
    for (let o = 0; o < outSize; o++) {
      first[o] = source.length;
      for (let t = 0; t < k; t++) {
        const scaled = o + padding - t;
        if (scaled >= 0 && scaled % stride === 0 && scaled / stride < size) {
          source.push(scaled / stride);
          tap.push(t);
        }
      }
    }
    first[outSize] = source.length;
    return { first, source: Int32Array.from(source), tap: Int32Array.from(tap) };
  }
  return {
    ...layer, h, wd, oh, ow, block, blocks, w, b: weights.subarray(layer.bias, layer.bias + cout),
    rows: taps(h, oh), cols: taps(wd, ow),
    out: new Float32Array(oh * ow * cout), // overwritten by each call: decode() copies before returning
    nonzeroCount: new Int32Array(h * wd), nonzeroAt: new Int32Array(h * wd * cin),
    nonzeroValue: new Float32Array(h * wd * cin),
  };
}

function convTranspose(layer, x) {
  // x: (h, w, cin) channels-last; returns the layer's buffer, (oh, ow, cout) channels-last
  const { cin, k, h, wd, oh, ow, block, blocks, w, b, out } = layer;
  const { first: rowFirst, source: rowSource, tap: rowTap } = layer.rows;
  const { first: colFirst, source: colSource, tap: colTap } = layer.cols;
  const { nonzeroCount: count, nonzeroAt: at, nonzeroValue: value } = layer;
  for (let p = 0; p < h * wd; p++) {
    // each input pixel's non-zero channels: their offsets into a weight block, and their values
    const base = p * cin;
    let m = base;
    for (let ci = 0; ci < cin; ci++) {
      const v = x[base + ci];
      if (v !== 0) {
        at[m] = ci * block;
        value[m++] = v;
      }
    }
    count[p] = m - base;
  }
  const perTap = blocks * cin * block;
  let o = 0;
  for (let y = 0; y < oh; y++) {
    const r0 = rowFirst[y], r1 = rowFirst[y + 1];
    for (let xo = 0; xo < ow; xo++) {
      const c0 = colFirst[xo], c1 = colFirst[xo + 1];
      for (let g = 0; g < blocks; g++) {
        const blockBase = g * cin * block, bias = g * block;
        if (block === BLOCK) {
          let s0 = b[bias], s1 = b[bias + 1], s2 = b[bias + 2], s3 = b[bias + 3];
          let s4 = b[bias + 4], s5 = b[bias + 5], s6 = b[bias + 6], s7 = b[bias + 7];
          for (let r = r0; r < r1; r++) {
            const inRow = rowSource[r] * wd, tapRow = rowTap[r] * k;
            for (let c = c0; c < c1; c++) {
              const p = inRow + colSource[c], first = p * cin, last = first + count[p];
              const wBase = (tapRow + colTap[c]) * perTap + blockBase;
              for (let j = first; j < last; j++) {
                const v = value[j], i = wBase + at[j];
                s0 += v * w[i];
                s1 += v * w[i + 1];
                s2 += v * w[i + 2];
                s3 += v * w[i + 3];
                s4 += v * w[i + 4];
                s5 += v * w[i + 5];
                s6 += v * w[i + 6];
                s7 += v * w[i + 7];
              }
            }
          }
          out[o] = s0;
          out[o + 1] = s1;
          out[o + 2] = s2;
          out[o + 3] = s3;
          out[o + 4] = s4;
          out[o + 5] = s5;
          out[o + 6] = s6;
          out[o + 7] = s7;
          o += BLOCK;
        } else {
          // one output channel at a time (cout not a multiple of BLOCK, e.g. 1 for a grey image)
          let sum = b[g];
          for (let r = r0; r < r1; r++) {
            const inRow = rowSource[r] * wd, tapRow = rowTap[r] * k;
            for (let c = c0; c < c1; c++) {
              const p = inRow + colSource[c], first = p * cin, last = first + count[p];
              const wBase = (tapRow + colTap[c]) * perTap + blockBase;
              for (let j = first; j < last; j++) sum += value[j] * w[wBase + at[j]];
            }
          }
          out[o++] = sum;
        }
      }
    }
  }
  return out;
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
        x = convTranspose(layer, x);
        shape = [layer.oh, layer.ow, layer.cout];
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
  const pixels = new Float32Array(x.length); // a new array: x may be a layer's buffer, reused by the next call
  for (let i = 0; i < x.length; i++) pixels[i] = 1 / (1 + Math.exp(-x[i])); // logits -> intensities
  return pixels;
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
