// The Node path the browser must agree with: what `segstudio predict` does (src/core predictCase with
// onnxruntime-node on the CPU), on the same file bytes and the same model files.
import { loadBundle } from '../src/core/inference/bundle.ts';
import { predictCase } from '../src/core/inference/predictor.ts';
import { readImageFile } from '../src/core/io/index.ts';
import type { Image, LabelMap } from '../src/core/types.ts';
import { createRunnersForModel } from '../src/node/predictFiles.ts';

export async function nodePredict(
  images: { name: string; bytes: Uint8Array }[],
  modelFiles: Map<string, Uint8Array>,
  opts: { tta: boolean; stepSize?: number },
): Promise<LabelMap> {
  const read = images.map((f) => readImageFile(f.bytes, f.name));
  let image: Image = read[0];
  if (read.length > 1) {
    const n = read[0].data.length;
    const data = new Float32Array(n * read.length);
    read.forEach((im, i) => data.set(im.data, i * n));
    image = { data, shape: [read.length, ...read[0].shape.slice(1)], properties: read[0].properties };
  }
  const model = await loadBundle(modelFiles, 'reference-model');
  const runners = await createRunnersForModel(model, { device: 'cpu', threads: 1 });
  try {
    const r = await predictCase(image, model, runners, { tta: opts.tta, stepSize: opts.stepSize ?? 0.5 });
    return r.labels;
  } finally {
    await Promise.all(runners.map((r) => r.dispose()));
  }
}
