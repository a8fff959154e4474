import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import ort from 'onnxruntime-node';
import { dataPath, describeWithData } from '../../../../test/sharedData.ts';
import { OnnxGraphBuilder, float } from './builder.ts';
import { AttributeType, decodeModel, encodeModel, tensorToFloat32 } from './model.ts';
import { ProtoWriter } from './protobuf.ts';

async function runOrt(bytes: Uint8Array, input: Float32Array, shape: number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const s = await ort.InferenceSession.create(bytes);
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', input, shape) });
  const t = out[s.outputNames[0]];
  await s.release();
  return { data: t.data as Float32Array, dims: t.dims };
}

describe('OnnxGraphBuilder', () => {
  it('builds a 1×1×1 conv + LeakyRelu whose onnxruntime output matches a hand computation', async () => {
    const b = new OnnxGraphBuilder('t');
    const x = b.addInput('input', [1, 2, 'D', 'H', 'W']);
    // out0 = 2·c0 − c1 + 0.5 ; out1 = −c0 + 3·c1 − 1 ; out2 = c1
    const y = b.conv(x, new Float32Array([2, -1, -1, 3, 0, 1]), [3, 2, 1, 1, 1], new Float32Array([0.5, -1, 0]));
    const z = b.leakyRelu(y, 0.1);
    b.addOutput(z, [1, 3, 'D', 'H', 'W'], 'float32', 'logits');
    const bytes = b.toBytes();
    const inp = new Float32Array([1, 2, 3, -4, /* c1 */ 0, 1, -1, 2]);
    const { data, dims } = await runOrt(bytes, inp, [1, 2, 1, 2, 2]);
    expect([...dims]).toEqual([1, 3, 1, 2, 2]);
    const expected: number[] = [];
    const lrelu = (v: number) => (v >= 0 ? v : 0.1 * v);
    for (let i = 0; i < 4; i++) expected[i] = lrelu(2 * inp[i] - inp[4 + i] + 0.5);
    for (let i = 0; i < 4; i++) expected[4 + i] = lrelu(-inp[i] + 3 * inp[4 + i] - 1);
    for (let i = 0; i < 4; i++) expected[8 + i] = lrelu(inp[4 + i]);
    for (let i = 0; i < 12; i++) expect(data[i]).toBeCloseTo(expected[i], 5);
  });

  it('writes a model that decodes back to the same graph', () => {
    const b = new OnnxGraphBuilder('g');
    const x = b.addInput('x', [1, 1, 4, 4]);
    const y = b.instanceNorm(b.conv(x, new Float32Array(9).fill(1), [1, 1, 3, 3], null), new Float32Array([1]), new Float32Array([0]));
    b.addOutput(b.softmax(b.concat([y, y]), 1), [1, 2, 4, 4]);
    const m = b.build({ metadata: { k: 'v' } });
    const d = decodeModel(encodeModel(m));
    expect(d.opsetImports).toEqual([{ domain: '', version: 17 }]);
    expect(d.graph.nodes.map((n) => n.opType)).toEqual(['Conv', 'InstanceNormalization', 'Concat', 'Softmax']);
    const eps = d.graph.nodes[1].attributes.find((a) => a.name === 'epsilon')!;
    expect(eps.type).toBe(AttributeType.FLOAT);
    expect(eps.f).toBeCloseTo(1e-5, 10);
    expect(d.graph.nodes[0].attributes.find((a) => a.name === 'pads')!.ints).toEqual([1, 1, 1, 1]);
    expect(d.graph.inputs[0]).toMatchObject({ name: 'x', elemType: 1, shape: [1, 1, 4, 4] });
    expect(d.metadata).toEqual([{ key: 'k', value: 'v' }]);
    expect(tensorToFloat32(d.graph.initializers[0])).toEqual(new Float32Array(9).fill(1));
    expect(encodeModel(d)).toEqual(encodeModel(m));
  });

  it('keeps unknown fields (e.g. training_info, functions) when re-encoding', () => {
    const b = new OnnxGraphBuilder('g');
    b.addOutput(b.relu(b.addInput('x', [2])), [2]);
    const base = b.toBytes();
    // append ModelProto field 25 (functions, a message) and field 99 (varint) that we do not model
    const w = new ProtoWriter();
    w.raw(base);
    w.messageField(25, (s) => s.stringField(1, 'my_function'));
    w.varintField(99, 7);
    const withExtra = w.finish();
    const d = decodeModel(withExtra);
    expect(d.unknown?.map((u) => u.field)).toEqual([25, 99]);
    expect(encodeModel(d)).toEqual(withExtra);
    expect(decodeModel(encodeModel(d)).graph.nodes[0].opType).toBe('Relu');
  });

  it('refuses garbage with a SegStudioError naming the file', () => {
    expect(() => decodeModel(new TextEncoder().encode('<html>not a model</html>'), 'page.onnx')).toThrowError(/page\.onnx/);
    expect(() => decodeModel(new Uint8Array([0x08, 0x07]), 'empty.onnx')).toThrowError(/empty\.onnx.*no graph/);
  });
});

describeWithData('ONNX codec on a third-party model (brainchop MeshNet, PyTorch export)', () => {
  const file = dataPath('models/brainchop_model5_gw_ae/model5_gw_ae.niivue-onnx.onnx');
  it('decodes its structure and re-encodes it byte for byte', () => {
    const bytes = new Uint8Array(fs.readFileSync(file));
    const m = decodeModel(bytes, file);
    expect(m.irVersion).toBe(7);
    expect(m.opsetImports.find((o) => o.domain === '')?.version).toBe(14);
    const ops = m.graph.nodes.map((n) => n.opType);
    expect(ops.filter((o) => o === 'Conv').length).toBe(10);
    expect(ops.filter((o) => o === 'Relu').length).toBe(9);
    expect(m.graph.inputs[0]).toMatchObject({ name: 'input', elemType: 1 });
    expect(m.graph.inputs[0].shape!.slice(1)).toEqual([1, 256, 256, 256]);
    expect(typeof m.graph.inputs[0].shape![0]).toBe('string');
    const params = m.graph.initializers.reduce((s, t) => s + t.dims.reduce((a, b) => a * b, 1), 0);
    expect(params).toBe(5598);
    expect(Buffer.from(encodeModel(m)).equals(Buffer.from(bytes))).toBe(true);
  });

  it('a model edited through the codec still runs in onnxruntime (graph output renamed)', async () => {
    const m = decodeModel(new Uint8Array(fs.readFileSync(file)), file);
    const oldOut = m.graph.outputs[0].name;
    m.graph.inputs[0].shape = ['N', 1, 'D', 'H', 'W'];
    m.graph.nodes.push({ opType: 'Identity', inputs: [oldOut], outputs: ['renamed'], attributes: [] });
    m.graph.outputs[0] = { ...m.graph.outputs[0], name: 'renamed', shape: ['N', 3, 'D', 'H', 'W'] };
    const s = await ort.InferenceSession.create(encodeModel(m));
    expect(s.outputNames).toEqual(['renamed']);
    const r = await s.run({ input: new ort.Tensor('float32', new Float32Array(8 * 8 * 8).fill(0.5), [1, 1, 8, 8, 8]) });
    expect([...r.renamed.dims]).toEqual([1, 3, 8, 8, 8]);
    await s.release();
    void float;
  });
});

describe('ONNX decoder robustness (fuzz)', () => {
  it('random corruptions of a valid model either decode or fail with a SegStudioError, never anything else', () => {
    const b = new OnnxGraphBuilder('fz');
    const x = b.addInput('x', [1, 2, 'D', 'H', 'W']);
    const y = b.conv(x, new Float32Array(2 * 2 * 27).fill(0.1), [2, 2, 3, 3, 3], new Float32Array([0, 1]));
    b.addOutput(b.leakyRelu(b.instanceNorm(y, new Float32Array([1, 1]), new Float32Array([0, 0]))), [1, 2, 'D', 'H', 'W']);
    const good = b.toBytes();
    let s = 987654321;
    const rnd = (n: number) => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) % n);
    let decoded = 0;
    let refused = 0;
    for (let iter = 0; iter < 1500; iter++) {
      let bytes = good.slice();
      const kind = rnd(3);
      if (kind === 0) for (let k = 0; k <= rnd(4); k++) bytes[rnd(bytes.length)] = rnd(256);
      else if (kind === 1) bytes = bytes.slice(0, rnd(bytes.length));
      else {
        const i = rnd(bytes.length);
        bytes = Uint8Array.from([...bytes.slice(0, i), ...Array.from({ length: 1 + rnd(8) }, () => rnd(256)), ...bytes.slice(i)]);
      }
      try {
        const m = decodeModel(bytes, 'fuzz.onnx');
        encodeModel(m); // whatever decodes must re-encode
        decoded++;
      } catch (e) {
        expect((e as Error).name).toBe('SegStudioError');
        expect((e as Error).message).toMatch(/^fuzz\.onnx: not a valid ONNX protobuf/);
        refused++;
      }
    }
    expect(decoded).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });
});
