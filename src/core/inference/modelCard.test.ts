import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../test/sharedData.ts';
import { normalizeForCard, parseModelCard, type ModelCard } from './modelCard.ts';

const base = {
  format: 'segstudio-model-card/1',
  name: 'x',
  labels: { background: 0, a: 1 },
  channels: { '0': 'T1' },
  input: { layout: 'NCDHW', axis_order: 'x-fastest', patch_size: 'full' },
  normalization: 'minmax',
};

describe('model cards', () => {
  it('parses the committed brainchop card', () => {
    const f = path.join(repoRoot, 'test/fixtures/inference/brainchop_model5_gw_ae.card.json');
    const c = parseModelCard(fs.readFileSync(f, 'utf8'), f);
    expect(c.labels).toEqual({ background: 0, white_matter: 1, grey_matter: 2 });
    expect(c.input.shape).toEqual([256, 256, 256]);
  });

  it('refuses invalid cards with a message naming the card file', () => {
    const bad = (patch: Record<string, unknown>, re: RegExp) => expect(() => parseModelCard(JSON.stringify({ ...base, ...patch }), 'm.card.json')).toThrow(re);
    bad({ format: 'other' }, /m\.card\.json: unsupported format/);
    bad({ labels: { background: 0, a: 2 } }, /consecutive from 0/);
    bad({ channels: {} }, /at least one input channel/);
    bad({ input: { ...base.input, patch_size: [64, 64] } }, /patch_size/);
    bad({ input: { ...base.input, axis_order: 'yxz' } }, /axis_order/);
    bad({ normalization: 'percentile' }, /normalization/);
    bad({ normalization: 'ct' }, /needs normalization_params/);
    expect(() => parseModelCard('{', 'broken.json')).toThrow(/broken\.json: not valid JSON/);
  });

  it('normalizes as documented (hand-computed)', () => {
    const card = (normalization: string, params?: object) => ({ ...base, normalization, normalization_params: params }) as unknown as ModelCard;
    const mm = Float32Array.from([2, 4, 6, 10]);
    normalizeForCard(mm, card('minmax'));
    expect([...mm]).toEqual([0, 0.25, 0.5, 1]);
    const z = Float32Array.from([1, 3]);
    normalizeForCard(z, card('zscore'));
    expect([...z]).toEqual([-1, 1]);
    // numpy.quantile([0..10], 0.1) = 1, 0.9 → 9: (x − 1) / 8
    const q = Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    normalizeForCard(q, card('quantile', { lower_quantile: 0.1, upper_quantile: 0.9 }));
    expect(q[0]).toBeCloseTo(-1 / 8, 6);
    expect(q[10]).toBeCloseTo(9 / 8, 6);
    const ct = Float32Array.from([-2000, 0, 50, 3000]);
    normalizeForCard(ct, card('ct', { mean: 50, std: 100, percentile_00_5: -1000, percentile_99_5: 1000 }));
    expect([...ct]).toEqual([-10.5, -0.5, 0, 9.5]);
    const flat = Float32Array.from([3, 3]);
    normalizeForCard(flat, card('minmax'));
    expect([...flat]).toEqual([0, 0]);
  });
});
