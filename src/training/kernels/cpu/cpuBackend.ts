// The CPU reference Backend: plain TypeScript kernels on Float32Array or Float64Array (float64 for gradient
// checks). Slow but obviously correct; every WGSL kernel is tested against it.
import type {
  Backend,
  ConvSpec,
  DType,
  DeviceTensor,
  FloatArray,
  SegLossGradCoeffs,
  SegLossStats,
  SgdOptions,
} from '../../engine/backend.ts';
import { convGeom, convOutShape, numel, sameShape, to3 } from '../../engine/backend.ts';
import * as conv from './conv.ts';
import * as norm from './norm.ts';
import * as ops from './tensorOps.ts';
import * as loss from './loss.ts';
import { sgdStep } from './sgd.ts';

export class CpuTensor implements DeviceTensor {
  readonly size: number;
  freed = false;
  constructor(
    readonly shape: readonly number[],
    readonly data: FloatArray,
  ) {
    this.size = data.length;
  }
}

function spatial(shape: readonly number[]): number {
  return numel(shape.slice(2));
}

export class CpuBackend implements Backend {
  readonly name: string;
  private live = new Set<CpuTensor>();

  constructor(readonly dtype: DType = 'float32') {
    this.name = `cpu-${dtype}`;
  }

  private alloc(shape: readonly number[]): CpuTensor {
    const n = numel(shape);
    const t = new CpuTensor([...shape], this.dtype === 'float64' ? new Float64Array(n) : new Float32Array(n));
    this.live.add(t);
    return t;
  }

  /** The backing array of a tensor of this backend (tests and the autograd's CPU fast paths). */
  data(t: DeviceTensor): FloatArray {
    const c = t as CpuTensor;
    if (!(c instanceof CpuTensor)) throw new Error('tensor does not belong to the CPU backend');
    if (c.freed) throw new Error('use of a freed tensor');
    return c.data;
  }

  zeros(shape: readonly number[]): DeviceTensor {
    return this.alloc(shape);
  }
  upload(data: ArrayLike<number>, shape: readonly number[]): DeviceTensor {
    if (data.length !== numel(shape)) throw new Error(`upload: ${data.length} values for shape [${shape}]`);
    const t = this.alloc(shape);
    t.data.set(data);
    return t;
  }
  write(t: DeviceTensor, data: ArrayLike<number>): void {
    const d = this.data(t);
    if (data.length !== d.length) throw new Error(`write: ${data.length} values into ${d.length}`);
    d.set(data);
  }
  async download(t: DeviceTensor): Promise<FloatArray> {
    return this.data(t).slice();
  }
  free(t: DeviceTensor): void {
    const c = t as CpuTensor;
    if (c.freed) throw new Error('double free of a tensor');
    c.freed = true;
    this.live.delete(c);
  }
  copy(t: DeviceTensor): DeviceTensor {
    return this.upload(this.data(t), t.shape);
  }
  async sync(): Promise<void> {}
  dispose(): void {
    this.live.clear();
  }
  memoryStats() {
    let bytes = 0;
    for (const t of this.live) bytes += t.data.byteLength;
    return { liveTensors: this.live.size, liveBytes: bytes, pooledBytes: 0 };
  }

  conv(x: DeviceTensor, w: DeviceTensor, b: DeviceTensor | null, spec: ConvSpec): DeviceTensor {
    const y = this.alloc(convOutShape(x.shape, w.shape, spec));
    conv.convForward(this.data(x), this.data(w), b ? this.data(b) : null, convGeom(x.shape, w.shape, spec), this.data(y));
    return y;
  }
  convBackwardData(dy: DeviceTensor, w: DeviceTensor, xShape: readonly number[], spec: ConvSpec): DeviceTensor {
    const dx = this.alloc(xShape);
    conv.convBackwardData(this.data(dy), this.data(w), convGeom(xShape, w.shape, spec), this.data(dx));
    return dx;
  }
  convBackwardWeights(dy: DeviceTensor, x: DeviceTensor, wShape: readonly number[], spec: ConvSpec): DeviceTensor {
    const dw = this.alloc(wShape);
    conv.convBackwardWeights(this.data(dy), this.data(x), convGeom(x.shape, wShape, spec), this.data(dw));
    return dw;
  }
  biasGrad(dy: DeviceTensor): DeviceTensor {
    const db = this.alloc([dy.shape[1]]);
    conv.biasGrad(this.data(dy), dy.shape[0], dy.shape[1], spatial(dy.shape), this.data(db));
    return db;
  }
  private tgeom(x: readonly number[], cout: number, stride: number[]): conv.TGeom3 {
    return { n: x[0], cin: x[1], cout, in: to3(x.slice(2), 1), s: to3(stride, 1) };
  }
  convTranspose(x: DeviceTensor, w: DeviceTensor, b: DeviceTensor | null, stride: number[]): DeviceTensor {
    const y = this.alloc([x.shape[0], w.shape[1], ...x.shape.slice(2).map((s, i) => s * stride[i])]);
    conv.convTransposeForward(this.data(x), this.data(w), b ? this.data(b) : null, this.tgeom(x.shape, w.shape[1], stride), this.data(y));
    return y;
  }
  convTransposeBackwardData(dy: DeviceTensor, w: DeviceTensor, stride: number[]): DeviceTensor {
    const xShape = [dy.shape[0], w.shape[0], ...dy.shape.slice(2).map((s, i) => s / stride[i])];
    const dx = this.alloc(xShape);
    conv.convTransposeBackwardData(this.data(dy), this.data(w), this.tgeom(xShape, w.shape[1], stride), this.data(dx));
    return dx;
  }
  convTransposeBackwardWeights(dy: DeviceTensor, x: DeviceTensor, stride: number[]): DeviceTensor {
    const dw = this.alloc([x.shape[1], dy.shape[1], ...stride]);
    conv.convTransposeBackwardWeights(this.data(dy), this.data(x), this.tgeom(x.shape, dy.shape[1], stride), this.data(dw));
    return dw;
  }

  instanceNorm(x: DeviceTensor, gamma: DeviceTensor, beta: DeviceTensor, eps: number) {
    const [n, c] = x.shape;
    const y = this.alloc(x.shape), mean = this.alloc([n * c]), invstd = this.alloc([n * c]);
    norm.instanceNormForward(this.data(x), this.data(gamma), this.data(beta), n, c, spatial(x.shape), eps, this.data(y), this.data(mean), this.data(invstd));
    return { y: y as DeviceTensor, mean: mean as DeviceTensor, invstd: invstd as DeviceTensor };
  }
  instanceNormBackward(dy: DeviceTensor, x: DeviceTensor, gamma: DeviceTensor, mean: DeviceTensor, invstd: DeviceTensor) {
    const [n, c] = x.shape;
    const dx = this.alloc(x.shape), dgamma = this.alloc([c]), dbeta = this.alloc([c]);
    norm.instanceNormBackward(this.data(dy), this.data(x), this.data(gamma), this.data(mean), this.data(invstd), n, c, spatial(x.shape), this.data(dx), this.data(dgamma), this.data(dbeta));
    return { dx: dx as DeviceTensor, dgamma: dgamma as DeviceTensor, dbeta: dbeta as DeviceTensor };
  }
  leakyRelu(x: DeviceTensor, slope: number): DeviceTensor {
    const y = this.alloc(x.shape);
    norm.leakyReluForward(this.data(x), slope, this.data(y));
    return y;
  }
  leakyReluBackward(dy: DeviceTensor, x: DeviceTensor, slope: number): DeviceTensor {
    const dx = this.alloc(x.shape);
    norm.leakyReluBackward(this.data(dy), this.data(x), slope, this.data(dx));
    return dx;
  }

  concat(a: DeviceTensor, b: DeviceTensor): DeviceTensor {
    if (a.shape[0] !== b.shape[0] || !sameShape(a.shape.slice(2), b.shape.slice(2)))
      throw new Error(`concat: shapes [${a.shape}] and [${b.shape}] differ outside channels`);
    const out = this.alloc([a.shape[0], a.shape[1] + b.shape[1], ...a.shape.slice(2)]);
    ops.concatChannels(this.data(a), this.data(b), a.shape[0], a.shape[1], b.shape[1], spatial(a.shape), this.data(out));
    return out;
  }
  split(t: DeviceTensor, channelsA: number): [DeviceTensor, DeviceTensor] {
    const cb = t.shape[1] - channelsA;
    const a = this.alloc([t.shape[0], channelsA, ...t.shape.slice(2)]);
    const b = this.alloc([t.shape[0], cb, ...t.shape.slice(2)]);
    ops.splitChannels(this.data(t), t.shape[0], channelsA, cb, spatial(t.shape), this.data(a), this.data(b));
    return [a, b];
  }
  add(a: DeviceTensor, b: DeviceTensor): DeviceTensor {
    if (a.size !== b.size) throw new Error(`add: sizes ${a.size} and ${b.size}`);
    const out = this.alloc(a.shape);
    ops.add(this.data(a), this.data(b), this.data(out));
    return out;
  }
  scale(a: DeviceTensor, s: number): DeviceTensor {
    const out = this.alloc(a.shape);
    ops.scale(this.data(a), s, this.data(out));
    return out;
  }
  axpy(alpha: number, x: DeviceTensor, y: DeviceTensor): void {
    if (x.size !== y.size) throw new Error(`axpy: sizes ${x.size} and ${y.size}`);
    ops.axpy(alpha, this.data(x), this.data(y));
  }

  softmax(logits: DeviceTensor): DeviceTensor {
    const out = this.alloc(logits.shape);
    loss.softmax(this.data(logits), logits.shape[0], logits.shape[1], spatial(logits.shape), this.data(out));
    return out;
  }
  async segLossStats(logits: DeviceTensor, target: DeviceTensor, ignoreLabel: number | null): Promise<SegLossStats> {
    return loss.segLossStats(this.data(logits), this.data(target), logits.shape[0], logits.shape[1], spatial(logits.shape), ignoreLabel);
  }
  segLossBackward(logits: DeviceTensor, target: DeviceTensor, coeffs: SegLossGradCoeffs, ignoreLabel: number | null): DeviceTensor {
    const dx = this.alloc(logits.shape);
    loss.segLossBackward(this.data(logits), this.data(target), logits.shape[0], logits.shape[1], spatial(logits.shape), coeffs, ignoreLabel, this.data(dx));
    return dx;
  }
  downsampleSeg(target: DeviceTensor, outSpatial: readonly number[]): DeviceTensor {
    const out = this.alloc([target.shape[0], target.shape[1], ...outSpatial]);
    loss.downsampleSeg(this.data(target), target.shape[0] * target.shape[1], to3(target.shape.slice(2), 1), to3(outSpatial, 1), this.data(out));
    return out;
  }

  async sumSquares(ts: readonly DeviceTensor[]): Promise<number> {
    let s = 0;
    for (const t of ts) s += ops.sumSquares(this.data(t));
    return s;
  }
  sgdStep(param: DeviceTensor, grad: DeviceTensor, buf: DeviceTensor, opts: SgdOptions): void {
    sgdStep(this.data(param), this.data(grad), this.data(buf), opts);
  }
}
