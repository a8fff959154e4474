// CPU reference backend: every gradient vs central finite differences in float64, plus hand-computed values.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from './cpuBackend.ts';
import { gradCheck, lossCases, lossGradCheck, opCases } from '../testing/cases.ts';

const f64 = new CpuBackend('float64');

describe('CPU reference kernels: gradients vs finite differences (float64)', () => {
  for (const c of opCases.filter((c) => c.backward)) {
    it(c.name, async () => {
      await gradCheck(f64, c);
    });
  }
  for (const c of lossCases) {
    it(c.name, async () => {
      await lossGradCheck(f64, c);
    });
  }
  it('leaves no live tensors behind', () => {
    expect(f64.memoryStats().liveTensors).toBe(0);
  });
});

describe('CPU reference kernels: hand-computed values', () => {
  const b = new CpuBackend('float64');
  it('conv2d 3×3 with padding 1 sums the neighbourhood (all-ones kernel) plus bias', async () => {
    const x = b.upload([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
    const w = b.upload(new Array(9).fill(1), [1, 1, 3, 3]);
    const bias = b.upload([0.5], [1]);
    const y = await b.download(b.conv(x, w, bias, { stride: [1, 1], padding: [1, 1], dilation: [1, 1] }));
    // corner (0,0): 1+2+4+5 = 12; centre: 45; edge (0,1): 1+2+3+4+5+6 = 21
    expect(Array.from(y)).toEqual([12, 21, 16, 27, 45, 33, 24, 39, 28].map((v) => v + 0.5));
  });
  it('conv is a cross-correlation (kernel not flipped)', async () => {
    const x = b.upload([1, 2, 3], [1, 1, 1, 3]);
    const w = b.upload([1, 10, 100], [1, 1, 1, 3]);
    const y = await b.download(b.conv(x, w, null, { stride: [1, 1], padding: [0, 0], dilation: [1, 1] }));
    expect(Array.from(y)).toEqual([1 + 20 + 300]);
  });
  it('transposed conv with kernel == stride writes one kernel copy per input voxel', async () => {
    const x = b.upload([1, 2], [1, 1, 1, 2]);
    const w = b.upload([1, 2, 3, 4], [1, 1, 2, 2]);
    const y = await b.download(b.convTranspose(x, w, null, [2, 2]));
    expect(Array.from(y)).toEqual([1, 2, 2, 4, 3, 4, 6, 8]);
  });
  it('instance norm normalises each (n, c) with biased variance', async () => {
    const x = b.upload([1, 3], [1, 1, 2]);
    const r = b.instanceNorm(x, b.upload([2], [1]), b.upload([1], [1]), 0);
    expect(Array.from(await b.download(r.y))).toEqual([-1, 3]);
    expect(Array.from(await b.download(r.mean))).toEqual([2]);
    expect(Array.from(await b.download(r.invstd))).toEqual([1]);
  });
  it('nearest-exact downsampling picks index floor((i + 0.5)·in/out)', async () => {
    const t = b.upload([0, 1, 2, 3, 4, 5, 6], [1, 1, 1, 1, 7]);
    // 7 → 4: scale 1.75 → src 0, 2, 4, 6 ; 7 → 3: scale 7/3 → src 1, 3, 5
    expect(Array.from(await b.download(b.downsampleSeg(t, [1, 1, 4])))).toEqual([0, 2, 4, 6]);
    expect(Array.from(await b.download(b.downsampleSeg(t, [1, 1, 3])))).toEqual([1, 3, 5]);
  });
  it('SGD step follows torch.optim.SGD (nesterov, weight decay) by hand', async () => {
    const p = b.upload([1], [1]), g = b.upload([0.5], [1]), buf = b.zeros([1]);
    const o = { lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true, gradScale: 1 };
    b.sgdStep(p, g, buf, { ...o, firstStep: true });
    // g' = 0.5 + 0.01·1 = 0.51; buf = 0.51; d = 0.51 + 0.9·0.51 = 0.969; p = 1 − 0.0969
    expect((await b.download(p))[0]).toBeCloseTo(0.9031, 12);
    expect((await b.download(buf))[0]).toBeCloseTo(0.51, 12);
    b.sgdStep(p, g, buf, { ...o, firstStep: false });
    // g' = 0.5 + 0.01·0.9031 = 0.509031; buf = 0.9·0.51 + 0.509031 = 0.968031; d = 0.509031 + 0.9·0.968031
    expect((await b.download(buf))[0]).toBeCloseTo(0.968031, 12);
    expect((await b.download(p))[0]).toBeCloseTo(0.9031 - 0.1 * (0.509031 + 0.9 * 0.968031), 12);
  });
});

describe('shared backend suite', () => {
  it('passes for the CPU float64 reference against the CPU float32 reference, and flags a broken backend', async () => {
    const { runBackendSuite } = await import('../testing/suite.ts');
    const ok = await runBackendSuite(new CpuBackend('float64'), new CpuBackend('float32'));
    expect(ok.filter((r) => !r.ok)).toEqual([]);
    const broken = new CpuBackend('float32');
    const leaky = broken.leakyRelu.bind(broken);
    broken.leakyRelu = (x, s) => leaky(x, s * 2);
    const bad = await runBackendSuite(broken, new CpuBackend('float32'));
    expect(bad.filter((r) => !r.ok).map((r) => r.name)).toEqual(['leakyRelu']);
  });
});
