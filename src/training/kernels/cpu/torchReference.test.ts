// CPU reference kernels against PyTorch outputs and gradients recorded by
// scripts/fixtures/training_engine.py (test/fixtures/training/torch_reference.json).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CpuBackend } from './cpuBackend.ts';
import { diceCeFromStats } from '../../nn/loss.ts';
import { SGD } from '../../nn/optimizer.ts';
import { Parameter } from '../../engine/autograd.ts';
import { assertClose } from '../testing/util.ts';
import { repoRoot } from '../../../../test/sharedData.ts';

const ref = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures/training/torch_reference.json'), 'utf8'));
const b = new CpuBackend('float64');
const close = (name: string, a: ArrayLike<number>, e: number[]) => assertClose(name, a, e, 1e-9, 1e-10);

describe('CPU kernels match PyTorch (float64)', () => {
  for (const name of ['conv3d_k133_s122', 'conv3d_k3_dil2', 'conv3d_k3_s2_odd', 'conv2d_k3_s2']) {
    it(`${name}: output, dx, dw, db`, async () => {
      const c = ref[name];
      const spec = { stride: c.stride, padding: c.padding, dilation: c.dilation };
      const x = b.upload(c.x, c.xShape), w = b.upload(c.w, c.wShape), bias = b.upload(c.b, [c.wShape[0]]);
      const y = b.conv(x, w, bias, spec);
      expect(y.shape).toEqual(c.yShape);
      close('y', await b.download(y), c.y);
      const dy = b.upload(c.dy, c.yShape);
      close('dx', await b.download(b.convBackwardData(dy, w, c.xShape, spec)), c.dx);
      close('dw', await b.download(b.convBackwardWeights(dy, x, c.wShape, spec)), c.dw);
      close('db', await b.download(b.biasGrad(dy)), c.db);
    });
  }
  it('conv_transpose3d kernel == stride (1,2,2): output, dx, dw, db', async () => {
    const c = ref.convT3d_s122;
    const x = b.upload(c.x, c.xShape), w = b.upload(c.w, c.wShape), bias = b.upload(c.b, [c.wShape[1]]);
    const y = b.convTranspose(x, w, bias, c.stride);
    expect(y.shape).toEqual(c.yShape);
    close('y', await b.download(y), c.y);
    const dy = b.upload(c.dy, c.yShape);
    close('dx', await b.download(b.convTransposeBackwardData(dy, w, c.stride)), c.dx);
    close('dw', await b.download(b.convTransposeBackwardWeights(dy, x, c.stride)), c.dw);
    close('db', await b.download(b.biasGrad(dy)), c.db);
  });
  it('instance_norm (affine, eps 1e-5): output and gradients', async () => {
    const c = ref.instanceNorm;
    const x = b.upload(c.x, c.xShape), g = b.upload(c.gamma, [3]), be = b.upload(c.beta, [3]);
    const r = b.instanceNorm(x, g, be, 1e-5);
    close('y', await b.download(r.y), c.y);
    const gr = b.instanceNormBackward(b.upload(c.dy, c.xShape), x, g, r.mean, r.invstd);
    close('dx', await b.download(gr.dx), c.dx);
    close('dgamma', await b.download(gr.dgamma), c.dgamma);
    close('dbeta', await b.download(gr.dbeta), c.dbeta);
  });
  ref.diceCe.forEach((c: { shape: number[]; logits: number[]; target: number[]; batchDice: boolean; ignoreLabel: number | null; loss: number; dlogits: number[] }, k: number) => {
    it(`DC_and_CE loss case ${k} (batch dice ${c.batchDice}, ignore ${c.ignoreLabel}): value and d/dlogits`, async () => {
      const l = b.upload(c.logits, c.shape);
      const t = b.upload(c.target, [c.shape[0], 1, ...c.shape.slice(2)]);
      const opts = { batchDice: c.batchDice, ignoreLabel: c.ignoreLabel };
      const stats = await b.segLossStats(l, t, c.ignoreLabel);
      const res = diceCeFromStats(stats, c.shape[0], c.shape[1], opts);
      expect(res.loss).toBeCloseTo(c.loss, 10);
      close('dlogits', await b.download(b.segLossBackward(l, t, res.coeffs, c.ignoreLabel)), c.dlogits);
    });
  });
  it('SGD (momentum 0.99, nesterov, weight decay 3e-5) with clip_grad_norm_(12), three steps', async () => {
    const c = ref.sgd;
    const ps = [new Parameter(b.upload(c.init[0], [7]), 'a'), new Parameter(b.upload(c.init[1], [2, 3]), 'b')];
    const opt = new SGD(b, ps, { lr: 0.01 });
    for (let s = 0; s < 3; s++) {
      ps.forEach((p, k) => (p.grad = b.upload(c.grads[s][k], p.shape)));
      const norm = await opt.step({ lr: 0.01, maxGradNorm: 12 });
      expect(norm).toBeCloseTo(c.norms[s], 10);
      opt.zeroGrad();
    }
    close('p1', await b.download(ps[0].value), c.final[0]);
    close('p2', await b.download(ps[1].value), c.final[1]);
    const st = await opt.getState();
    assertClose('momentum a', st.momentum.a, c.momentum[0], 1e-6, 1e-7);
    assertClose('momentum b', st.momentum.b, c.momentum[1], 1e-6, 1e-7);
  });
  it("label downsampling matches interpolate(mode='nearest-exact')", async () => {
    const c = ref.downsample;
    const t = b.upload(c.labels, c.shape);
    expect(Array.from(await b.download(b.downsampleSeg(t, c.outSpatial)))).toEqual(c.out);
  });
});
