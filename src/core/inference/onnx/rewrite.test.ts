import { describe, expect, it } from 'vitest';
import ort from 'onnxruntime-node';
import { OnnxGraphBuilder } from './builder.ts';
import { decodeModel, encodeModel } from './model.ts';
import { rewriteConvTransposeReport } from './rewrite.ts';

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** x → Conv 3×… (so the ConvTranspose input is an activation, not the graph input) → ConvTranspose → Relu */
function upsamplingModel(cin: number, cout: number, stride: number[], bias: boolean, symbolic: boolean): Uint8Array {
  const nd = stride.length;
  const b = new OnnxGraphBuilder('up');
  const sp = symbolic ? stride.map((_, i) => `d${i}`) : stride.map(() => 4);
  const x = b.addInput('x', [symbolic ? 'N' : 1, 2, ...sp]);
  const k3 = stride.map(() => 3);
  const h = b.conv(x, rand(cin * 2 * 3 ** nd, 1), [cin, 2, ...k3], rand(cin, 2));
  const S = stride.reduce((a, c) => a * c, 1);
  const y = b.convTranspose(h, rand(cin * cout * S, 3), [cin, cout, ...stride], bias ? rand(cout, 4) : null, stride);
  b.addOutput(b.relu(b.add(y, y)), [symbolic ? 'N' : 1, cout, ...stride.map(() => null)]);
  return b.toBytes();
}

async function run(bytes: Uint8Array, input: Float32Array, shape: number[]): Promise<{ data: Float32Array; dims: number[] }> {
  const s = await ort.InferenceSession.create(bytes);
  const r = await s.run({ x: new ort.Tensor('float32', input, shape) });
  const t = r[s.outputNames[0]];
  const out = { data: (t.data as Float32Array).slice(), dims: [...t.dims] };
  await s.release();
  return out;
}

describe('rewriteConvTranspose3d (ConvTranspose kernel == stride → Conv 1×1 + depth-to-space)', () => {
  const cases: { stride: number[]; cin: number; cout: number; bias: boolean; size: number[] }[] = [
    { stride: [2, 2, 2], cin: 4, cout: 3, bias: true, size: [3, 5, 4] },
    { stride: [1, 2, 2], cin: 5, cout: 2, bias: true, size: [4, 3, 6] },
    { stride: [2, 1, 2], cin: 3, cout: 4, bias: false, size: [2, 3, 3] },
    { stride: [2, 2], cin: 6, cout: 3, bias: true, size: [5, 7] },
    { stride: [1, 2], cin: 3, cout: 5, bias: true, size: [4, 3] },
  ];
  for (const c of cases) {
    it(`${c.stride.length}D stride [${c.stride}], ${c.cin}→${c.cout} channels${c.bias ? ', bias' : ''}: same output as onnxruntime's ConvTranspose`, async () => {
      const bytes = upsamplingModel(c.cin, c.cout, c.stride, c.bias, true);
      const rep = rewriteConvTransposeReport(decodeModel(bytes));
      expect(rep.rewritten).toBe(1);
      expect(rep.skipped).toEqual([]);
      expect(rep.model.graph.nodes.some((n) => n.opType === 'ConvTranspose')).toBe(false);
      const shape = [1, 2, ...c.size];
      const input = rand(shape.reduce((a, b) => a * b, 1), 7);
      const ref = await run(bytes, input, shape);
      const got = await run(encodeModel(rep.model), input, shape);
      expect(got.dims).toEqual(ref.dims);
      expect(ref.dims).toEqual([1, c.cout, ...c.size.map((s, i) => s * c.stride[i])]);
      let maxErr = 0;
      for (let i = 0; i < ref.data.length; i++) maxErr = Math.max(maxErr, Math.abs(ref.data[i] - got.data[i]));
      expect(maxErr).toBeLessThanOrEqual(1e-5);
      // the output is not trivially zero (Relu of random values)
      expect(ref.data.some((v) => v > 0.01)).toBe(true);
    });
  }

  it('works for a batch of 2 and leaves the input model untouched', async () => {
    const bytes = upsamplingModel(3, 2, [2, 2, 2], true, true);
    const m = decodeModel(bytes);
    const rewritten = rewriteConvTransposeReport(m).model;
    expect(m.graph.nodes.some((n) => n.opType === 'ConvTranspose')).toBe(true);
    const shape = [2, 2, 3, 2, 4];
    const input = rand(2 * 2 * 24, 11);
    const ref = await run(bytes, input, shape);
    const got = await run(encodeModel(rewritten), input, shape);
    expect(got.dims).toEqual([2, 2, 6, 4, 8]);
    for (let i = 0; i < ref.data.length; i++) expect(Math.abs(ref.data[i] - got.data[i])).toBeLessThanOrEqual(1e-5);
  });

  it('leaves ConvTranspose with kernel ≠ stride alone and reports why', () => {
    const b = new OnnxGraphBuilder('k3s2');
    const x = b.addInput('x', [1, 2, 4, 4]);
    const w = b.addInitializer('w', [2, 3, 3, 3], rand(54, 5));
    b.node('ConvTranspose', [x, w], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }, { outputs: ['y'], name: 'up1' });
    b.addOutput('y', [1, 3, null, null]);
    const rep = rewriteConvTransposeReport(b.build());
    expect(rep.rewritten).toBe(0);
    expect(rep.skipped).toEqual([{ node: 'up1', reason: 'kernel [3,3] ≠ stride [2,2]' }]);
  });
});
