// .npy/.npz against files numpy wrote (scripts/fixtures/numpy_npz.py) and ensembling against numpy's float32
// mean + argmax recorded in the same script.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../test/sharedData.ts';
import { averageProbabilities, ensembleCase, probabilitiesToSegmentation } from './ensemble.ts';
import { readNpy, readNpz, readNpzKey, writeNpy, writeNpz } from './npz.ts';

const dir = path.join(repoRoot, 'test/fixtures/ensembling');
const read = (f: string) => new Uint8Array(fs.readFileSync(path.join(dir, f)));
const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8'));
const f32 = (v: number[]) => Array.from(Float32Array.from(v));

describe('npy / npz reader against numpy files', () => {
  it('np.savez_compressed probabilities (float32 [C, z, y, x])', () => {
    const a = readNpzKey(read('probs_a.npz'), 'probabilities', 'probs_a.npz');
    expect(a.shape).toEqual(expected.probs_a.shape);
    expect(a.data).toBeInstanceOf(Float32Array);
    expect(Array.from(a.data)).toEqual(f32(expected.probs_a.values));
  });
  it('float16, Fortran order int16, big-endian float64, bool, int64', () => {
    const h = readNpy(read('half.npy'));
    expect(h.shape).toEqual([2, 5]);
    expect(Array.from(h.data)).toEqual(f32(expected.half.values));
    const f = readNpy(read('fortran_i2.npy'));
    expect(f.shape).toEqual([2, 3, 4]);
    expect(Array.from(f.data)).toEqual(expected.fortran_i2.values);
    const b = readNpy(read('bigendian_f8.npy'));
    expect(Array.from(b.data)).toEqual(expected.bigendian_f8.values);
    expect(Array.from(readNpy(read('bool.npy')).data)).toEqual([1, 0, 1]);
    expect(Array.from(readNpy(read('int64.npy')).data)).toEqual(expected.int64.values);
  });
  it('np.savez (stored, several keys, an empty array)', () => {
    const z = readNpz(read('multi_uncompressed.npz'));
    expect(Array.from(z.x.data)).toEqual([0, 1, 2, 3]);
    expect(z.y.shape).toEqual([0, 2]);
  });
  it('missing key and garbage are errors naming the file', () => {
    expect(() => readNpzKey(read('probs_a.npz'), 'logits', 'x.npz')).toThrow(/x.npz.*logits.*probabilities/);
    expect(() => readNpz(new Uint8Array([1, 2, 3]), 'bad.npz')).toThrow(/bad.npz/);
    expect(() => readNpy(new Uint8Array(20), 'bad.npy')).toThrow(/magic/);
  });
  it('writer: header aligned to 64 bytes, readable back, zip readable back', () => {
    const arr = { data: Float32Array.from([1.5, -2, 3.25, 0, 7, 8]), shape: [2, 3] };
    const npy = writeNpy(arr);
    const hlen = npy[8] | (npy[9] << 8);
    expect((10 + hlen) % 64).toBe(0);
    expect(new TextDecoder().decode(npy.subarray(10, 10 + hlen))).toMatch(
      /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/,
    );
    const back = readNpzKey(writeNpz({ probabilities: arr }), 'probabilities');
    expect(back.shape).toEqual([2, 3]);
    expect(Array.from(back.data)).toEqual([1.5, -2, 3.25, 0, 7, 8]);
    expect(new TextDecoder().decode(writeNpy({ data: new Uint8Array(3), shape: [3] }).subarray(10, 70))).toContain("'shape': (3,)");
  });
});

describe('ensembling', () => {
  it('float32 mean and argmax equal numpy', () => {
    const a = readNpzKey(read('probs_a.npz'), 'probabilities');
    const b = readNpzKey(read('probs_b.npz'), 'probabilities');
    const r = ensembleCase([a, b]);
    expect(Array.from(r.probabilities.data)).toEqual(f32(expected.mean_ab.values));
    expect(r.segmentation.shape).toEqual([2, 3, 4]);
    expect(Array.from(r.segmentation.data)).toEqual(expected.mean_ab.argmax);
  });
  it('argmax ties pick the first channel; regions use p > 0.5 in regions_class_order', () => {
    const p = { data: Float32Array.from([0.5, 0.2, 0.5, 0.8]), shape: [2, 2] };
    expect(Array.from(probabilitiesToSegmentation(p).data)).toEqual([0, 1]);
    const reg = { data: Float32Array.from([0.9, 0.9, 0.1, 0.6, 0.2, 0.7]), shape: [2, 3] };
    // region 0 → label 1 where > 0.5; region 1 → label 2 overwrites
    expect(Array.from(probabilitiesToSegmentation(reg, [1, 2]).data)).toEqual([2, 1, 2]);
  });
  it('shape mismatch is an error naming the member', () => {
    const a = { data: new Float32Array(4), shape: [2, 2] };
    const b = { data: new Float32Array(6), shape: [2, 3] };
    expect(() => averageProbabilities([a, b], ['m1/case.npz', 'm2/case.npz'])).toThrow(/m2\/case.npz/);
  });
});
