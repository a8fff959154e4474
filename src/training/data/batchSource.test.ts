import { describe, expect, it } from 'vitest';
import { NnUNetBatchSource, nnUNetTrainingSource, type TrainerCase } from './batchSource.ts';

function box(shape: number[], b: number[][]): TrainerCase {
  const [d0, d1, d2] = shape;
  const n = d0 * d1 * d2;
  const data = new Float32Array(n);
  const seg = new Uint8Array(n);
  for (let i = 0; i < n; i++) data[i] = (i % 7) / 7;
  for (let z = b[0][0]; z < b[0][1]; z++) for (let y = b[1][0]; y < b[1][1]; y++) for (let x = b[2][0]; x < b[2][1]; x++) seg[(z * d1 + y) * d2 + x] = 2;
  return { id: `c${shape.join('x')}`, data, shape: [1, ...shape], seg };
}

describe('NnUNetBatchSource (trainer BatchSource)', () => {
  it('training batches at the final patch size with labels in {0, 2} and resumable RNG state', () => {
    const cases = [box([30, 34, 30], [[10, 14], [10, 15], [10, 14]]), box([28, 30, 32], [[2, 5], [20, 24], [3, 6]])];
    const src = nnUNetTrainingSource(cases, [16, 16, 16], 3, [2], 42);
    const b = src.next();
    expect(b.shape).toEqual([3, 1, 16, 16, 16]);
    expect(b.targetShape).toEqual([3, 1, 16, 16, 16]);
    for (const v of new Set(b.target)) expect([0, 2]).toContain(v);
    // the last sample of a batch of 3 is forced to contain foreground (augmentation keeps the centre region)
    const last = b.target.subarray(2 * 4096);
    expect(last.some((v) => v === 2)).toBe(true);
    const st = src.getState();
    const n1 = src.next();
    src.setState(st);
    const n2 = src.next();
    expect(n2.data).toEqual(n1.data);
    expect(n2.keys).toEqual(n1.keys);
  });

  it('validation source (no augmentation) crops the patch directly', () => {
    const c = box([20, 20, 20], [[5, 8], [5, 8], [5, 8]]);
    const src = new NnUNetBatchSource([c], { batchSize: 2, patchSize: [8, 8, 8], oversampleForeground: 0.33, foregroundLabels: [2] }, 1);
    const b = src.next();
    expect(b.shape).toEqual([2, 1, 8, 8, 8]);
    expect(b.target.subarray(512).some((v) => v === 2)).toBe(true);
    expect(() => new NnUNetBatchSource([c], { batchSize: 2, patchSize: [8, 8, 8], initialPatchSize: [10, 10, 10], oversampleForeground: 0.33, foregroundLabels: [2] }, 1)).toThrow(
      /needs an augmentation/,
    );
  });
});
