// evaluate-model on the committed demo bundle and procedurally generated phantoms: the Dice it reports must
// equal a plain count of overlaps computed here from the written predictions and the phantoms' own truth.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makePhantom } from '../../core/demo/phantom.ts';
import { encodeNifti1 } from '../../core/demo/nifti1.ts';
import { readImageFile } from '../../core/io/index.ts';
import { isSegStudioError } from '../../core/errors.ts';
import { repoRoot } from '../../../test/sharedData.ts';
import { run } from './evaluate-model.ts';

const DEMO = path.join(repoRoot, 'public/models/demo');
let tmp = '';
const truths: Record<string, Uint8Array> = {};

function writeNii(file: string, data: Float32Array | Uint8Array, shapeZyx: number[], affine: number[][]): void {
  fs.writeFileSync(file, zlib.gzipSync(encodeNifti1(data, [shapeZyx[2], shapeZyx[1], shapeZyx[0]], affine)));
}

function readLabels(file: string): Float32Array {
  return readImageFile(new Uint8Array(fs.readFileSync(file)), file).data;
}

/** 2|A∩B| / (|A| + |B|), NaN when both are empty (nnU-Net's convention) */
function dice(ref: ArrayLike<number>, pred: ArrayLike<number>, label: number): number {
  let a = 0;
  let b = 0;
  let ab = 0;
  for (let i = 0; i < ref.length; i++) {
    const r = ref[i] === label;
    const p = Math.round(pred[i]) === label;
    if (r) a++;
    if (p) b++;
    if (r && p) ab++;
  }
  return a + b === 0 ? NaN : (2 * ab) / (a + b);
}

async function quietRun(args: string[]): Promise<{ code: number; stdout: string }> {
  const out: string[] = [];
  const w = process.stdout.write.bind(process.stdout);
  const e = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string) => (out.push(String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return { code: await run(args), stdout: out.join('') };
  } finally {
    process.stdout.write = w;
    process.stderr.write = e;
  }
}

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-evalmodel-'));
  fs.mkdirSync(path.join(tmp, 'imagesTs'));
  fs.mkdirSync(path.join(tmp, 'labelsTs'));
  const cases: [string, Parameters<typeof makePhantom>[0]][] = [
    ['ph_001', { seed: 1 }],
    ['ph_002', { seed: 7, noise: 45, bias: 0.1 }],
  ];
  for (const [id, opts] of cases) {
    const p = makePhantom(opts);
    const aff = p.image.properties.affine as number[][];
    writeNii(path.join(tmp, 'imagesTs', `${id}_0000.nii.gz`), p.image.data, p.image.shape.slice(1), aff);
    const t = new Uint8Array(p.truth.data);
    writeNii(path.join(tmp, 'labelsTs', `${id}.nii.gz`), t, p.truth.shape, aff);
    truths[id] = t;
  }
  // an image without a reference is skipped, not an error
  const extra = makePhantom({ seed: 3 });
  writeNii(path.join(tmp, 'imagesTs', 'ph_003_0000.nii.gz'), extra.image.data, extra.image.shape.slice(1), extra.image.properties.affine as number[][]);
});

afterAll(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe('segstudio evaluate-model', () => {
  it('predicts, evaluates and reports Dice equal to an independent overlap count', async () => {
    const out = path.join(tmp, 'out');
    const { code, stdout } = await quietRun(['-m', DEMO, '-i', path.join(tmp, 'imagesTs'), '-r', path.join(tmp, 'labelsTs'), '-o', out, '--no-tta']);
    expect(code).toBe(0);
    expect(fs.readdirSync(path.join(out, 'predictions')).filter((f) => f.endsWith('.nii.gz')).sort()).toEqual(['ph_001.nii.gz', 'ph_002.nii.gz']);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    const ev = JSON.parse(fs.readFileSync(path.join(out, 'evaluation.json'), 'utf8'));
    expect(ev.postprocessing).toBe('none'); // the demo bundle has no postprocessing.json
    expect(ev.cases_skipped_without_reference).toBe(1);
    const perLabel: Record<string, number[]> = { '1': [], '2': [], '3': [] };
    for (const id of ['ph_001', 'ph_002']) {
      const pred = readLabels(path.join(out, 'predictions', `${id}.nii.gz`));
      const entry = summary.metric_per_case.find((c: { prediction_file: string }) => c.prediction_file.endsWith(`${id}.nii.gz`));
      for (const l of [1, 2, 3]) {
        const d = dice(truths[id], pred, l);
        perLabel[String(l)].push(d);
        expect(entry.metrics[String(l)].Dice).toBeCloseTo(d, 10);
      }
    }
    // the demo model on its own phantom: brain well segmented (phantom's ground truth)
    for (const d of perLabel['1']) expect(d).toBeGreaterThan(0.9);
    const names = { '1': 'brain', '2': 'ventricles', '3': 'lesion' } as Record<string, string>;
    for (const row of ev.final.labels) {
      const v = perLabel[row.key];
      const mean = (v[0] + v[1]) / 2;
      const sd = Math.abs(v[0] - v[1]) / Math.SQRT2; // sample sd of two values
      expect(row.name).toBe(names[row.key]);
      expect(row.n).toBe(2);
      expect(row.dice_mean).toBeCloseTo(mean, 10);
      expect(row.dice_sd).toBeCloseTo(sd, 10);
    }
    const fg = (['1', '2', '3'].map((k) => (perLabel[k][0] + perLabel[k][1]) / 2).reduce((a, b) => a + b, 0)) / 3;
    expect(ev.final.foreground_mean_dice).toBeCloseTo(fg, 10);
    expect(stdout).toMatch(/brain\s+1\s+0\.9\d{3}\s+±/);
    expect(stdout).toContain(`foreground mean`);
  });

  it('applies a postprocessing.json (--pp FILE) and evaluates the postprocessed segmentations', async () => {
    const out = path.join(tmp, 'out-pp');
    const ppFile = path.join(tmp, 'pp.json');
    fs.writeFileSync(ppFile, JSON.stringify({ postprocessing_fns: [{ fn: 'remove_all_but_largest_component', labels_or_regions: 3, background_label: 0 }] }));
    const { code } = await quietRun(['-m', DEMO, '-i', path.join(tmp, 'imagesTs'), '-r', path.join(tmp, 'labelsTs'), '-o', out, '--no-tta', '--pp', ppFile]);
    expect(code).toBe(0);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
    for (const id of ['ph_001', 'ph_002']) {
      const raw = readLabels(path.join(out, 'predictions', `${id}.nii.gz`));
      const post = readLabels(path.join(out, 'postprocessed', `${id}.nii.gz`));
      // only label 3 may lose voxels (to background); everything else is untouched
      for (let i = 0; i < raw.length; i++) {
        if (raw[i] !== post[i]) {
          expect(raw[i]).toBe(3);
          expect(post[i]).toBe(0);
        }
      }
      const entry = summary.metric_per_case.find((c: { prediction_file: string }) => c.prediction_file.endsWith(`${id}.nii.gz`));
      expect(entry.prediction_file).toContain('postprocessed');
      for (const l of [1, 2, 3]) expect(entry.metrics[String(l)].Dice).toBeCloseTo(dice(truths[id], post, l), 10);
    }
  });

  it('names the folder when no image has a reference, and refuses missing folders', async () => {
    const empty = path.join(tmp, 'nolabels');
    fs.mkdirSync(empty, { recursive: true });
    await expect(quietRun(['-m', DEMO, '-i', path.join(tmp, 'imagesTs'), '-r', empty, '-o', path.join(tmp, 'x')])).rejects.toSatisfy(
      (e: unknown) => isSegStudioError(e) && e.file === empty && /none of the 3 case/.test(e.message),
    );
    await expect(quietRun(['-m', DEMO, '-i', path.join(tmp, 'nope'), '-r', empty])).rejects.toSatisfy(
      (e: unknown) => isSegStudioError(e) && /images folder not found/.test(e.message),
    );
    await expect(quietRun(['-i', path.join(tmp, 'imagesTs'), '-r', empty])).rejects.toThrow(/missing required option -m MODEL/);
  });
});
