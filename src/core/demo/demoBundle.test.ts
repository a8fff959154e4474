// The shipped demo model (public/models/demo/, trained by scripts/train-demo.ts with SegStudio's trainer):
// its manifest verifies, its card says what it is, and it segments the default demo phantom to Dice ≥ 0.9
// per label against the phantom's own ground truth (makePhantom's label map, independent of the model),
// through the core predictor and onnxruntime-node, as `segstudio predict` does.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../inference/bundle.ts';
import { predictCase } from '../inference/predictor.ts';
import { computeMetrics } from '../evaluation/metrics.ts';
import { SegStudioError } from '../errors.ts';
import { createRunnersForModel } from '../../node/predictFiles.ts';
import { repoRoot } from '../../../test/sharedData.ts';
import { makePhantom, PHANTOM_LABELS } from './phantom.ts';
import { DEMO_EXPORT_PATCH } from './demoTraining.ts';

const dir = path.join(repoRoot, 'public/models/demo');

function demoFiles(): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  for (const f of fs.readdirSync(dir)) files.set(f, new Uint8Array(fs.readFileSync(path.join(dir, f))));
  return files;
}

describe('shipped demo model (public/models/demo)', () => {
  it('is a bundle whose manifest verifies; an altered network is refused naming the file', async () => {
    const files = demoFiles();
    const b = await loadBundle(files, 'models/demo');
    expect(b.configuration).toBe('3d_fullres');
    expect(b.folds).toEqual([0]);
    expect(b.dataset.labels).toEqual({ ...PHANTOM_LABELS });
    expect(b.plans.configurations['3d_fullres'].patch_size).toEqual([...DEMO_EXPORT_PATCH]);
    const onnx = files.get('fold_0.onnx')!;
    expect(onnx.length).toBeLessThan(2_000_000);
    const bad = new Map(files);
    const altered = onnx.slice();
    altered[altered.length - 5] ^= 0xff;
    bad.set('fold_0.onnx', altered);
    const err = await loadBundle(bad, 'models/demo').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SegStudioError);
    expect(String((err as Error).message)).toMatch(/fold_0\.onnx/);
  });

  it('has a model card: trained by SegStudio on generated phantoms, command, schedule, Dice, not for clinical use', () => {
    const card = JSON.parse(fs.readFileSync(path.join(dir, 'model-card.json'), 'utf8'));
    expect(card.not_for_clinical_use).toBe(true);
    expect(card.intended_use).toMatch(/not for clinical use/i);
    expect(card.training.command).toMatch(/^node bin\/run-ts\.mjs scripts\/train-demo\.ts /);
    expect(card.training.trainer_command).toMatch(/^segstudio train /);
    expect(card.training.schedule.epochs).toBeGreaterThan(0);
    expect(card.training.data).toMatch(/generated/);
    for (const k of ['brain', 'ventricles', 'lesion']) {
      expect(card.evaluation.demo_phantom_dice[k]).toBeGreaterThanOrEqual(0.9);
      expect(card.evaluation.heldout.mean_dice[k]).toBeGreaterThan(0);
    }
    const md = fs.readFileSync(path.join(dir, 'model-card.md'), 'utf8');
    expect(md).toMatch(/Not for clinical use/);
    expect(md).toContain(card.training.command);
  });

  it('segments the default demo phantom to Dice ≥ 0.9 per label (core predictor + onnxruntime-node, no TTA)', async () => {
    const model = await loadBundle(demoFiles(), 'models/demo');
    const p = makePhantom();
    const runners = await createRunnersForModel(model, { device: 'cpu', threads: 2 });
    try {
      const r = await predictCase(p.image, model, runners, { tta: false });
      expect(r.labels.shape).toEqual(p.truth.shape);
      const m = computeMetrics(p.truth.data, r.labels.data, [1, 2, 3]);
      for (const l of [1, 2, 3]) expect(m[String(l)].Dice, `label ${l}`).toBeGreaterThanOrEqual(0.9);
    } finally {
      await Promise.all(runners.map((x) => x.dispose()));
    }
  }, 120_000);
});
