// Crashers the fuzz harness (npm run fuzz) found, kept as regression tests. Each builds its tiny input in
// code (or from a recipe) and checks the parser now refuses it with a SegStudioError naming the file, or
// handles it without throwing.
import { describe, expect, it } from 'vitest';
import { explainConfiguration } from '../../src/core/planning/explain.ts';
import { buildDemoBundle, demoPlans } from '../../src/core/demo/demoModel.ts';
import type { Plans } from '../../src/core/planning/plans.ts';
import { strToU8, zipSync } from 'fflate';

import { loadBundle, unzipBundle } from '../../src/core/inference/bundle.ts';
import { readNpz } from '../../src/core/ensembling/npz.ts';
import { datasetFilesFromZip } from '../../src/core/planning/dataset.ts';
import { regenerate } from '../../fuzz/harness.ts';
import { buildCorpus } from '../../fuzz/corpus.ts';
import { runCase } from '../../fuzz/execute.ts';
import { OnnxGraphBuilder } from '../../src/core/inference/onnx/builder.ts';
import { decodeModel } from '../../src/core/inference/onnx/model.ts';
import { rewriteConvTransposeReport } from '../../src/core/inference/onnx/rewrite.ts';
import { predictCase } from '../../src/core/inference/predictor.ts';
import { functionRunner } from '../../src/core/inference/runner.ts';
import { isSegStudioError } from '../../src/core/errors.ts';
import { rehash } from '../../fuzz/targets.ts';
import { parseModelCard } from '../../src/core/inference/modelCard.ts';

describe('fuzz regressions: explainConfiguration on malformed plans', () => {
  // fuzz: plans target, seed 1 cases 7, 21, 32 (TypeError in explain.ts)
  it('describes null kernel sizes / strides instead of throwing', () => {
    const p = demoPlans() as Plans;
    const arch = { n_stages: 2, features_per_stage: [8, 16], n_conv_per_stage: [2, 2], strides: [[1, 1, 1], null], kernel_sizes: [null, [3, 3, 3]] };
    (p.configurations['3d_fullres'] as unknown as Record<string, unknown>).architecture = { network_class_name: 'x', arch_kwargs: arch };
    expect(() => explainConfiguration(p, '3d_fullres')).not.toThrow();
    expect(explainConfiguration(p, '3d_fullres')).toMatch(/^3d_fullres: malformed configuration/);
  });

  it('describes non-numeric sizes instead of throwing', () => {
    const p = demoPlans() as Plans;
    (p.configurations['3d_fullres'] as unknown as Record<string, unknown>).median_image_size_in_voxels = ['\ud800', 60, 60];
    const text = explainConfiguration(p, '3d_fullres');
    expect(typeof text).toBe('string');
    expect(text.startsWith('3d_fullres:')).toBe(true);
  });

  it('still explains a valid configuration fully', () => {
    const text = explainConfiguration(demoPlans(), '3d_fullres');
    expect(text).toMatch(/3D U-Net at full resolution/);
    expect(text).not.toMatch(/malformed/);
  });
});


/** The demo bundle with plans.json edited and the manifest re-hashed (so only the plans are hostile). */
async function bundleWithPlans(edit: (p: Record<string, any>) => void): Promise<Map<string, Uint8Array>> {
  const files = await buildDemoBundle();
  const plans = JSON.parse(new TextDecoder().decode(files.get('plans.json')!));
  edit(plans);
  files.set('plans.json', strToU8(JSON.stringify(plans)));
  return rehash(files);
}

async function refusedWith(files: Map<string, Uint8Array>, re: RegExp): Promise<void> {
  let err: unknown = null;
  try {
    await loadBundle(files, 'm.zip');
  } catch (e) {
    err = e;
  }
  expect(isSegStudioError(err), String(err)).toBe(true);
  expect((err as Error).message).toContain('m.zip/plans.json');
  expect((err as Error).message).toMatch(re);
}

describe('fuzz regressions: plans.json in a bundle is checked before inference uses it', () => {
  // seed 1, plans cases 14, 46, 114 (TypeError tf.every / tb is not iterable in preprocessCase)
  it('transpose_forward / transpose_backward must be inverse permutations of [0, 1, 2]', async () => {
    await refusedWith(await bundleWithPlans((p) => (p.transpose_forward = [0, 0, 2])), /transpose_forward.*permutation/);
    await refusedWith(await bundleWithPlans((p) => (p.transpose_backward = null)), /transpose_backward.*permutation/);
    await refusedWith(await bundleWithPlans((p) => (p.transpose_forward = [1, 2, 0])), /does not undo/);
  });

  // seed 1, plans cases 9, 78, 213, 413 (RangeError in the sliding window: Invalid array length / typed array length)
  it('patch_size must be 2 or 3 positive integers of sane size', async () => {
    await refusedWith(await bundleWithPlans((p) => (p.configurations['3d_fullres'].patch_size = [1e20, 48, 48])), /patch_size/);
    await refusedWith(await bundleWithPlans((p) => (p.configurations['3d_fullres'].patch_size = [32, -511, 48])), /patch_size/);
    await refusedWith(await bundleWithPlans((p) => (p.configurations['3d_fullres'].patch_size = [32, 48.5, 48])), /patch_size/);
    await refusedWith(await bundleWithPlans((p) => (p.configurations['3d_fullres'].patch_size = [4096, 4096, 4096])), /exceeds/);
  });

  // seed 1, plans cases 53, 217, 356 (TypeError reading 'length' of missing spacing / normalization_schemes)
  it('spacing, normalization_schemes and resampling kwargs are checked', async () => {
    await refusedWith(await bundleWithPlans((p) => delete p.configurations['3d_fullres'].spacing), /spacing/);
    await refusedWith(await bundleWithPlans((p) => (p.configurations['3d_fullres'].spacing = [1, 0, 1])), /spacing/);
    await refusedWith(await bundleWithPlans((p) => delete p.configurations['3d_fullres'].normalization_schemes), /normalization_schemes/);
    await refusedWith(await bundleWithPlans((p) => (p.configurations['3d_fullres'].resampling_fn_data_kwargs.order = 'cubic')), /order/);
    await refusedWith(
      await bundleWithPlans((p) => {
        p.configurations['3d_fullres'].normalization_schemes = ['CTNormalization'];
        p.foreground_intensity_properties_per_channel = { 0: { mean: 1 } };
      }),
      /CTNormalization/,
    );
  });

  it('the untouched demo bundle still loads', async () => {
    const b = await loadBundle(await buildDemoBundle(), 'demo');
    expect(b.configuration).toBe('3d_fullres');
  });

  // seed 1, plans cases 40, 361 (SegStudioError without a file name: resample target shape [1,12,0])
  it('a spacing that shrinks the image to an empty grid is refused naming the image', async () => {
    const b = await loadBundle(await bundleWithPlans((p) => (p.configurations['3d_fullres'].spacing = [1e21, 1.5, 1.5])), 'huge-spacing');
    const image = { data: new Float32Array(6 * 10 * 12).fill(1), shape: [1, 6, 10, 12], properties: { format: 'nifti' as const, spacing: [1.5, 1.5, 1.5], fileName: 'tiny.nii.gz' } };
    const runner = functionRunner((_x, s) => ({ data: new Float32Array(4 * s[2] * s[3] * s[4]), shape: [1, 4, ...s.slice(2)] }));
    let err: unknown = null;
    try {
      await predictCase(image, b, [runner], { tta: false });
    } catch (e) {
      err = e;
    }
    expect(isSegStudioError(err), String(err)).toBe(true);
    expect((err as Error).message).toMatch(/^tiny\.nii\.gz: .*unusable grid/);
  });
});


describe('fuzz regressions: model cards', () => {
  const card = {
    format: 'segstudio-model-card/1',
    name: 'c',
    labels: { background: 0, a: 1 },
    channels: { 0: 'T1' },
    input: { layout: 'NCDHW', axis_order: 'x-fastest', patch_size: [32, 48, 48] },
    normalization: 'zscore',
  };
  const text = (edit: (c: any) => void) => {
    const c = JSON.parse(JSON.stringify(card));
    edit(c);
    return JSON.stringify(c);
  };
  // seed 4, modelcard cases 350, 369 (RangeError: Invalid typed array length 1.5e24 in the sliding window)
  it('refuses absurd patch sizes, shapes and spacings naming the card', () => {
    expect(() => parseModelCard(text(() => {}), 'm.card.json')).not.toThrow();
    expect(() => parseModelCard(text((c) => (c.input.patch_size = [32, 48, 1e20])), 'm.card.json')).toThrow(/m\.card\.json: "input\.patch_size"/);
    expect(() => parseModelCard(text((c) => (c.input.patch_size = [4096, 4096, 4096])), 'm.card.json')).toThrow(/m\.card\.json: "input\.patch_size" exceeds/);
    expect(() => parseModelCard(text((c) => (c.input.shape = [256, -1, 256])), 'm.card.json')).toThrow(/m\.card\.json: "input\.shape"/);
    expect(() => parseModelCard(text((c) => (c.input.spacing = [1, 0, 1])), 'm.card.json')).toThrow(/m\.card\.json: "input\.spacing"/);
  });
});

describe('fuzz regressions: zip members claiming more than their bytes can hold', () => {
  const MiB = 1024 * 1024;
  /** A zip whose central-directory "uncompressed size" of the first member is patched to `claim`. */
  function lyingZip(claim: number): Uint8Array {
    const z = zipSync({ 'probabilities.npy': [new Uint8Array(4096).fill(7), { level: 6 }] });
    const dv = new DataView(z.buffer);
    for (let p = z.length - 22; p >= 0; p--) {
      if (dv.getUint32(p, true) === 0x02014b50) {
        dv.setUint32(p + 24, claim, true); // central directory: uncompressed size
        break;
      }
    }
    return z;
  }

  // seed 1, npz case 312 (fflate allocated 3.2 GB for a 2 KB archive, then failed)
  it('readNpz, unzipBundle and datasetFilesFromZip refuse before allocating', () => {
    const z = lyingZip(0xfff00000);
    const cases: [string, () => unknown][] = [
      ['p.npz', () => readNpz(z, 'p.npz')],
      ['b.zip', () => unzipBundle(z, 'b.zip')],
      ['d.zip', () => datasetFilesFromZip(z, 'd.zip')],
    ];
    for (const [name, fn] of cases) {
      const before = process.memoryUsage().arrayBuffers;
      let err: unknown = null;
      try {
        fn();
      } catch (e) {
        err = e;
      }
      expect(isSegStudioError(err), `${name}: ${String(err)}`).toBe(true);
      expect((err as Error).message).toMatch(new RegExp(`^${name.replace('.', '\\.')}: archive member probabilities\\.npy claims`));
      expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * MiB);
    }
  });

  it('the recipe that found it (seed 1, npz #312, synthetic seeds) is refused too', async () => {
    const c = regenerate(await buildCorpus({ useSharedData: false }), 1, 'npz', 312);
    const o = await runCase(c);
    expect(o.cls, JSON.stringify(o)).toBe('rejected');
  });

  it('honest archives still open', () => {
    const z = lyingZip(4096); // the true size
    expect(() => unzipBundle(z, 'b.zip')).not.toThrow();
  });
});

describe('fuzz regressions: ONNX ConvTranspose rewrite', () => {
  // seed 2, onnx case 755: a non-float initializer feeding a ConvTranspose threw a plain Error
  it('a non-float ConvTranspose weight is refused with a SegStudioError naming the model', async () => {
    const c = regenerate(await buildCorpus({ useSharedData: false }), 2, 'onnx', 755);
    const o = await runCase(c);
    expect(o.cls === 'bug', JSON.stringify(o)).toBe(false);
    const b = new OnnxGraphBuilder('t');
    const x = b.addInput('x', [1, 2, 4, 4, 4]);
    const w = b.addInitializer('w', [2, 1, 2, 2, 2], new Float32Array(16).fill(1));
    const bias = b.addInitializer('bias', [1], [0.5]);
    const y = b.node('ConvTranspose', [x, w, bias], { kernel_shape: [2, 2, 2], strides: [2, 2, 2] })[0];
    b.addOutput(y, [1, 1, 8, 8, 8]);
    const m = decodeModel(b.toBytes({}), 'up.onnx');
    m.graph.initializers[1].dataType = 8; // the bias claims to be STRING
    expect(() => rewriteConvTransposeReport(m, 'up.onnx')).toThrow(/^up\.onnx: cannot rewrite ConvTranspose/);
  });
});
