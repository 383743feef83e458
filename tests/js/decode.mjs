// Decode codes with vaekit's browser decoder, in Node: the equality test against PyTorch
// (tests/test_decoder_js.py). Usage: node decode.mjs FOLDER, with FOLDER/spec.json, weights.bin,
// codes.bin (float32, n x latent) and labels.json; writes FOLDER/pixels.bin (float32, n x pixels).
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildDecoder, decode, readWeights } from "../../vaekit/widgets/decoder.js";

const folder = process.argv[2];
const spec = JSON.parse(readFileSync(join(folder, "spec.json"), "utf8"));
const labels = JSON.parse(readFileSync(join(folder, "labels.json"), "utf8"));
const asBuffer = (b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
const decoder = buildDecoder(spec, readWeights(asBuffer(readFileSync(join(folder, "weights.bin"))), spec.dtype));
const codes = new Float32Array(asBuffer(readFileSync(join(folder, "codes.bin"))));
const n = codes.length / spec.latent;
const out = new Float32Array(n * spec.pixels);
const started = performance.now();
for (let i = 0; i < n; i++) {
  out.set(decode(decoder, codes.subarray(i * spec.latent, (i + 1) * spec.latent), labels[i]), i * spec.pixels);
}
writeFileSync(join(folder, "pixels.bin"), Buffer.from(out.buffer));
console.log(JSON.stringify({ codes: n, ms_per_code: (performance.now() - started) / n }));
