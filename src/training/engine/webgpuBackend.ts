// The WebGPU Backend: float32 tensors in GPU storage buffers drawn from a size-class pool, WGSL kernels
// generated per shape (src/training/kernels/wgsl) and cached as pipelines. Commands are recorded into one
// command encoder and submitted in batches; only `download`, `segLossStats` and `sumSquares` read back.
import type {
  Backend,
  ConvSpec,
  DeviceTensor,
  FloatArray,
  SegLossGradCoeffs,
  SegLossStats,
  SgdOptions,
} from './backend.ts';
import { convGeom, convOutShape, numel, sameShape, to3, type Geom3 } from './backend.ts';
import { SegStudioError } from '../../core/errors.ts';
import { WG, chunksFor, type Kernel } from '../kernels/wgsl/common.ts';
import * as conv from '../kernels/wgsl/conv.ts';
import * as convT from '../kernels/wgsl/convTranspose.ts';
import * as norm from '../kernels/wgsl/norm.ts';
import * as ew from '../kernels/wgsl/elementwise.ts';
import * as loss from '../kernels/wgsl/loss.ts';
import type { TGeom3 } from '../kernels/cpu/conv.ts';

class GpuTensor implements DeviceTensor {
  readonly size: number;
  freed = false;
  constructor(
    readonly shape: readonly number[],
    readonly buffer: GPUBuffer,
    readonly capacity: number,
  ) {
    this.size = numel(shape);
  }
  get bytes(): number {
    return Math.max(4, this.size * 4);
  }
}

/** Pool size classes: 256 B minimum, then 4 classes per power of two (≤ 25 % slack). */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const p = 2 ** Math.ceil(Math.log2(bytes));
  for (const f of [0.625, 0.75, 0.875]) {
    const c = p * f;
    if (c >= bytes && c % 4 === 0) return c;
  }
  return p;
}

const FLUSH_EVERY = 48;

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu';
  readonly dtype = 'float32' as const;
  private pipelines = new Map<string, GPUComputePipeline>();
  private layouts = new Map<string, GPUBindGroupLayout>();
  private pool = new Map<number, GPUBuffer[]>();
  private pooledBytes = 0;
  private live = new Set<GpuTensor>();
  private encoder: GPUCommandEncoder | null = null;
  private pending = 0;
  private temps: GPUBuffer[] = [];
  private constCache = new Map<string, GPUBuffer>();
  private readonly maxBinding: number;
  private readonly maxGroups: number;
  /** dispatches issued (for benchmarks) */
  dispatches = 0;

  /**
   * Convolutions copy their input into a zero-padded buffer first so the kernels' inner loops need no bounds
   * checks (faster, costs one extra activation-sized buffer); false uses the bounds-checked kernels.
   */
  paddedConv = true;
  /** output channels per invocation in the padded conv kernels (register tile height) */
  convTM = conv.CONV_TM;

  /** `maxBindingBytes` lowers the per-tensor limit below the device's (tests, memory caps). */
  constructor(
    readonly device: GPUDevice,
    opts: { maxBindingBytes?: number } = {},
  ) {
    this.maxBinding = Math.min(
      device.limits.maxStorageBufferBindingSize,
      device.limits.maxBufferSize,
      opts.maxBindingBytes ?? Infinity,
    );
    this.maxGroups = device.limits.maxComputeWorkgroupsPerDimension;
    if (device.limits.maxComputeInvocationsPerWorkgroup < WG || device.limits.maxComputeWorkgroupSizeX < WG)
      throw new SegStudioError(
        'webgpu-limits',
        `this GPU allows ${device.limits.maxComputeInvocationsPerWorkgroup} invocations per workgroup; the training kernels need ${WG}`,
        'WebGPU',
      );
  }

  // ---- storage ---------------------------------------------------------------------------------------------

  private alloc(shape: readonly number[]): GpuTensor {
    const bytes = Math.max(4, numel(shape) * 4);
    if (bytes > this.maxBinding)
      throw new SegStudioError(
        'gpu-buffer-too-large',
        `tensor [${shape.join(', ')}] needs ${(bytes / 2 ** 20).toFixed(1)} MiB, more than this GPU allows in one storage buffer ` +
          `(maxStorageBufferBindingSize ${(this.maxBinding / 2 ** 20).toFixed(0)} MiB); use a smaller patch or batch size`,
        'WebGPU',
      );
    const cap = Math.min(sizeClass(bytes), Math.max(bytes, this.maxBinding - (this.maxBinding % 4)));
    const list = this.pool.get(cap);
    let buffer = list?.pop();
    if (buffer) this.pooledBytes -= cap;
    else
      buffer = this.device.createBuffer({
        size: cap,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
    const t = new GpuTensor([...shape], buffer, cap);
    this.live.add(t);
    return t;
  }

  private t(x: DeviceTensor): GpuTensor {
    const g = x as GpuTensor;
    if (!(g instanceof GpuTensor)) throw new Error('tensor does not belong to the WebGPU backend');
    if (g.freed) throw new Error('use of a freed tensor');
    return g;
  }

  zeros(shape: readonly number[]): DeviceTensor {
    const t = this.alloc(shape);
    this.enc().clearBuffer(t.buffer, 0, t.capacity);
    return t;
  }

  upload(data: ArrayLike<number>, shape: readonly number[]): DeviceTensor {
    if (data.length !== numel(shape)) throw new Error(`upload: ${data.length} values for shape [${shape}]`);
    const t = this.alloc(shape);
    this.writeRaw(t, data);
    return t;
  }

  write(x: DeviceTensor, data: ArrayLike<number>): void {
    const t = this.t(x);
    if (data.length !== t.size) throw new Error(`write: ${data.length} values into ${t.size}`);
    this.writeRaw(t, data);
  }

  private writeRaw(t: GpuTensor, data: ArrayLike<number>): void {
    // queue writes happen before commands still sitting in the open encoder: submit those first
    this.flush();
    const f = data instanceof Float32Array ? data : Float32Array.from(data);
    if (f.length > 0) this.device.queue.writeBuffer(t.buffer, 0, f.buffer, f.byteOffset, f.byteLength);
  }

  async download(x: DeviceTensor): Promise<FloatArray> {
    const t = this.t(x);
    return this.readBuffer(t.buffer, t.size);
  }

  private async readBuffer(buffer: GPUBuffer, count: number): Promise<Float32Array> {
    const bytes = Math.max(4, count * 4);
    const staging = this.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.enc().copyBufferToBuffer(buffer, 0, staging, 0, bytes);
    this.flush();
    await staging.mapAsync(GPUMapMode.READ);
    const out = new Float32Array(staging.getMappedRange().slice(0, count * 4));
    staging.unmap();
    staging.destroy();
    return out;
  }

  free(x: DeviceTensor): void {
    const t = x as GpuTensor;
    if (t.freed) throw new Error('double free of a tensor');
    t.freed = true;
    this.live.delete(t);
    let list = this.pool.get(t.capacity);
    if (!list) this.pool.set(t.capacity, (list = []));
    list.push(t.buffer);
    this.pooledBytes += t.capacity;
  }

  copy(x: DeviceTensor): DeviceTensor {
    const t = this.t(x);
    const out = this.alloc(t.shape);
    this.enc().copyBufferToBuffer(t.buffer, 0, out.buffer, 0, t.bytes);
    return out;
  }

  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  /** Returns pooled buffers to the driver (keeps live tensors). */
  trimPool(): void {
    this.flush();
    for (const list of this.pool.values()) for (const b of list) b.destroy();
    this.pool.clear();
    this.pooledBytes = 0;
  }

  dispose(): void {
    this.trimPool();
    for (const t of this.live) {
      t.freed = true;
      t.buffer.destroy();
    }
    this.live.clear();
  }

  memoryStats() {
    let liveBytes = 0;
    for (const t of this.live) liveBytes += t.capacity;
    return { liveTensors: this.live.size, liveBytes, pooledBytes: this.pooledBytes };
  }

  // ---- dispatch --------------------------------------------------------------------------------------------

  private enc(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  /** Submits the recorded commands. */
  flush(): void {
    if (this.encoder) {
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
      this.pending = 0;
    }
    for (const b of this.temps) b.destroy();
    this.temps = [];
    this.constCache.clear();
  }

  private pipeline(code: string): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    let pipeline = this.pipelines.get(code);
    const modes = [...code.matchAll(/@binding\((\d+)\) var<storage, (read_write|read)>/g)].map((m) => m[2]);
    const key = modes.join(',');
    let layout = this.layouts.get(key);
    if (!layout) {
      layout = this.device.createBindGroupLayout({
        entries: modes.map((m, binding) => ({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: m === 'read' ? 'read-only-storage' : 'storage' },
        })),
      });
      this.layouts.set(key, layout);
    }
    if (!pipeline) {
      const module = this.device.createShaderModule({ code });
      pipeline = this.device.createComputePipeline({
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
        compute: { module, entryPoint: 'main' },
      });
      this.pipelines.set(code, pipeline);
    }
    return { pipeline, layout };
  }

  private run(k: Kernel, buffers: Array<GpuTensor | GPUBuffer>): void {
    if (k.items <= 0) return;
    const { pipeline, layout } = this.pipeline(k.code);
    const bindGroup = this.device.createBindGroup({
      layout,
      entries: buffers.map((b, binding) =>
        b instanceof GpuTensor
          ? { binding, resource: { buffer: b.buffer, offset: 0, size: Math.ceil(b.bytes / 4) * 4 } }
          : { binding, resource: { buffer: b } },
      ),
    });
    const groups = Math.ceil(k.items / WG);
    const x = Math.min(groups, this.maxGroups);
    const y = Math.ceil(groups / x);
    const pass = this.enc().beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y);
    pass.end();
    this.dispatches++;
    if (++this.pending >= FLUSH_EVERY) this.flush();
  }

  /** A small read-only buffer of constants, valid until the next flush. */
  private consts(values: ArrayLike<number>): GPUBuffer {
    const key = Array.prototype.join.call(values, ',');
    const hit = this.constCache.get(key);
    if (hit) return hit;
    const buf = this.device.createBuffer({
      size: Math.max(16, Math.ceil((values.length * 4) / 16) * 16),
      usage: GPUBufferUsage.STORAGE,
      mappedAtCreation: true,
    });
    new Float32Array(buf.getMappedRange()).set(values);
    buf.unmap();
    this.temps.push(buf);
    this.constCache.set(key, buf);
    return buf;
  }

  private scratch(count: number): GpuTensor {
    return this.alloc([count]);
  }

  // ---- convolution -----------------------------------------------------------------------------------------

  /** Zero-padded copy of a conv input laid out for the padded kernels (caller frees). */
  private padInput(x: GpuTensor, g: Geom3): GpuTensor {
    const pd = conv.paddedDims(g);
    const out = this.alloc([g.n * g.cin, ...pd]);
    this.run(conv.padKernel(g.n * g.cin, g.in, g.pad, pd), [x, out]);
    return out;
  }

  private convGeom(xShape: readonly number[], wShape: readonly number[], spec: ConvSpec): Geom3 {
    const g = convGeom(xShape, wShape, spec);
    if (g.cin !== wShape[1]) throw new Error(`conv: input has ${g.cin} channels, weight expects ${wShape[1]}`);
    if (g.out.some((v) => v <= 0)) throw new Error(`conv: input [${xShape}] is smaller than the kernel [${wShape}]`);
    return g;
  }

  conv(x: DeviceTensor, w: DeviceTensor, b: DeviceTensor | null, spec: ConvSpec): DeviceTensor {
    const g = this.convGeom(x.shape, w.shape, spec);
    const y = this.alloc(convOutShape(x.shape, w.shape, spec));
    const bias = b ? this.t(b) : this.consts([0]);
    if (this.paddedConv) {
      const xp = this.padInput(this.t(x), g);
      this.run(conv.convForwardPaddedKernel(g, b !== null, this.convTM), [xp, this.t(w), bias, y]);
      this.free(xp);
    } else this.run(conv.convForwardKernel(g, b !== null), [this.t(x), this.t(w), bias, y]);
    return y;
  }

  convBackwardData(dy: DeviceTensor, w: DeviceTensor, xShape: readonly number[], spec: ConvSpec): DeviceTensor {
    const g = this.convGeom(xShape, w.shape, spec);
    const dx = this.alloc(xShape);
    // stride 1: dx = conv(dy, flipped wᵀ) with padding (k − 1)·d − p, run through the padded forward kernel
    const padT = g.k.map((k, a) => (k - 1) * g.dil[a] - g.pad[a]);
    if (this.paddedConv && g.stride.every((s) => s === 1) && padT.every((p) => p >= 0)) {
      const gt: Geom3 = { ...g, cin: g.cout, cout: g.cin, in: g.out, out: g.in, pad: padT as [number, number, number] };
      const ksp = g.k[0] * g.k[1] * g.k[2];
      const wt = this.alloc([g.cin, g.cout, ksp]);
      this.run(conv.flipTransposeWeightsKernel(g.cout, g.cin, ksp), [this.t(w), wt]);
      const dyp = this.padInput(this.t(dy), gt);
      this.run(conv.convForwardPaddedKernel(gt, false, this.convTM), [dyp, wt, this.consts([0]), dx]);
      this.free(dyp);
      this.free(wt);
    } else this.run(conv.convBackwardDataKernel(g), [this.t(dy), this.t(w), dx]);
    return dx;
  }

  convBackwardWeights(dy: DeviceTensor, x: DeviceTensor, wShape: readonly number[], spec: ConvSpec): DeviceTensor {
    const g = this.convGeom(x.shape, wShape, spec);
    const dw = this.alloc(wShape);
    if (this.paddedConv) {
      const xp = this.padInput(this.t(x), g);
      const splits = conv.dwSplits(g, this.convTM);
      if (splits === 1) this.run(conv.convBackwardWeightsPaddedKernel(g, this.convTM, 1), [this.t(dy), xp, dw]);
      else {
        const part = this.alloc([splits * dw.size]);
        this.run(conv.convBackwardWeightsPaddedKernel(g, this.convTM, splits), [this.t(dy), xp, part]);
        this.run(conv.splitSumKernel(dw.size, splits), [part, dw]);
        this.free(part);
      }
      this.free(xp);
    } else this.run(conv.convBackwardWeightsKernel(g), [this.t(dy), this.t(x), dw]);
    return dw;
  }

  biasGrad(dy: DeviceTensor): DeviceTensor {
    const [n, c] = dy.shape;
    const sp = numel(dy.shape.slice(2));
    const chunks = chunksFor(sp * n);
    const p = this.scratch(c * chunks);
    this.run(conv.channelSumPartialKernel(n, c, sp, chunks), [this.t(dy), p]);
    const db = this.alloc([c]);
    this.run(conv.rowSumKernel(c, chunks), [p, db]);
    this.free(p);
    return db;
  }

  private tgeom(x: readonly number[], cout: number, stride: number[]): TGeom3 {
    return { n: x[0], cin: x[1], cout, in: to3(x.slice(2), 1), s: to3(stride, 1) };
  }

  convTranspose(x: DeviceTensor, w: DeviceTensor, b: DeviceTensor | null, stride: number[]): DeviceTensor {
    const y = this.alloc([x.shape[0], w.shape[1], ...x.shape.slice(2).map((s, i) => s * stride[i])]);
    const k = convT.convTransposeForwardKernel(this.tgeom(x.shape, w.shape[1], stride), b !== null);
    this.run(k, [this.t(x), this.t(w), b ? this.t(b) : this.consts([0]), y]);
    return y;
  }

  convTransposeBackwardData(dy: DeviceTensor, w: DeviceTensor, stride: number[]): DeviceTensor {
    const xShape = [dy.shape[0], w.shape[0], ...dy.shape.slice(2).map((s, i) => s / stride[i])];
    const dx = this.alloc(xShape);
    this.run(convT.convTransposeBackwardDataKernel(this.tgeom(xShape, w.shape[1], stride)), [this.t(dy), this.t(w), dx]);
    return dx;
  }

  convTransposeBackwardWeights(dy: DeviceTensor, x: DeviceTensor, stride: number[]): DeviceTensor {
    const dw = this.alloc([x.shape[1], dy.shape[1], ...stride]);
    this.run(convT.convTransposeBackwardWeightsKernel(this.tgeom(x.shape, dy.shape[1], stride)), [this.t(dy), this.t(x), dw]);
    return dw;
  }

  // ---- normalisation / activation --------------------------------------------------------------------------

  instanceNorm(x: DeviceTensor, gamma: DeviceTensor, beta: DeviceTensor, eps: number) {
    const [n, c] = x.shape;
    const sp = numel(x.shape.slice(2));
    const rows = n * c, chunks = chunksFor(sp);
    const p = this.scratch(rows * chunks);
    const mean = this.alloc([rows]), invstd = this.alloc([rows]);
    this.run(norm.rowPartialKernel(rows, sp, chunks, 'sum'), [this.t(x), this.consts([0]), p]);
    this.run(norm.rowFinalizeKernel(rows, sp, chunks, 'mean', eps), [p, mean]);
    this.run(norm.rowPartialKernel(rows, sp, chunks, 'sq'), [this.t(x), mean, p]);
    this.run(norm.rowFinalizeKernel(rows, sp, chunks, 'invstd', eps), [p, invstd]);
    this.free(p);
    const y = this.alloc(x.shape);
    this.run(norm.normApplyKernel(n, c, sp), [this.t(x), mean, invstd, this.t(gamma), this.t(beta), y]);
    return { y: y as DeviceTensor, mean: mean as DeviceTensor, invstd: invstd as DeviceTensor };
  }

  instanceNormBackward(dy: DeviceTensor, x: DeviceTensor, gamma: DeviceTensor, mean: DeviceTensor, invstd: DeviceTensor) {
    const [n, c] = x.shape;
    const sp = numel(x.shape.slice(2));
    const rows = n * c, chunks = chunksFor(sp);
    const p = this.scratch(2 * rows * chunks), s = this.scratch(2 * rows);
    this.run(norm.normBackwardPartialKernel(rows, sp, chunks), [this.t(dy), this.t(x), this.t(mean), this.t(invstd), p]);
    this.run(norm.normBackwardReduceKernel(rows, chunks), [p, s]);
    const dx = this.alloc(x.shape), dgamma = this.alloc([c]), dbeta = this.alloc([c]);
    this.run(norm.normBackwardApplyKernel(n, c, sp), [this.t(dy), this.t(x), this.t(mean), this.t(invstd), this.t(gamma), s, dx]);
    this.run(norm.normParamGradKernel(n, c), [s, dgamma, dbeta]);
    this.free(p);
    this.free(s);
    return { dx: dx as DeviceTensor, dgamma: dgamma as DeviceTensor, dbeta: dbeta as DeviceTensor };
  }

  leakyRelu(x: DeviceTensor, slope: number): DeviceTensor {
    const y = this.alloc(x.shape);
    this.run(ew.leakyReluKernel(x.size, slope), [this.t(x), y]);
    return y;
  }

  leakyReluBackward(dy: DeviceTensor, x: DeviceTensor, slope: number): DeviceTensor {
    const dx = this.alloc(x.shape);
    this.run(ew.leakyReluBackwardKernel(x.size, slope), [this.t(dy), this.t(x), dx]);
    return dx;
  }

  // ---- tensor algebra --------------------------------------------------------------------------------------

  concat(a: DeviceTensor, b: DeviceTensor): DeviceTensor {
    if (a.shape[0] !== b.shape[0] || !sameShape(a.shape.slice(2), b.shape.slice(2)))
      throw new Error(`concat: shapes [${a.shape}] and [${b.shape}] differ outside channels`);
    const out = this.alloc([a.shape[0], a.shape[1] + b.shape[1], ...a.shape.slice(2)]);
    this.run(ew.concatKernel(a.shape[0], a.shape[1], b.shape[1], numel(a.shape.slice(2))), [this.t(a), this.t(b), out]);
    return out;
  }

  split(x: DeviceTensor, channelsA: number): [DeviceTensor, DeviceTensor] {
    const t = this.t(x);
    const [n, ct] = t.shape;
    const sp = numel(t.shape.slice(2));
    const a = this.alloc([n, channelsA, ...t.shape.slice(2)]);
    const b = this.alloc([n, ct - channelsA, ...t.shape.slice(2)]);
    this.run(ew.sliceChannelsKernel(n, ct, 0, channelsA, sp), [t, a]);
    this.run(ew.sliceChannelsKernel(n, ct, channelsA, ct - channelsA, sp), [t, b]);
    return [a, b];
  }

  add(a: DeviceTensor, b: DeviceTensor): DeviceTensor {
    if (a.size !== b.size) throw new Error(`add: sizes ${a.size} and ${b.size}`);
    const y = this.alloc(a.shape);
    this.run(ew.addKernel(a.size), [this.t(a), this.t(b), y]);
    return y;
  }

  scale(a: DeviceTensor, s: number): DeviceTensor {
    const y = this.alloc(a.shape);
    this.run(ew.scaleKernel(a.size), [this.t(a), this.consts([s]), y]);
    return y;
  }

  axpy(alpha: number, x: DeviceTensor, y: DeviceTensor): void {
    if (x.size !== y.size) throw new Error(`axpy: sizes ${x.size} and ${y.size}`);
    this.run(ew.axpyKernel(x.size), [this.t(x), this.consts([alpha]), this.t(y)]);
  }

  // ---- loss ------------------------------------------------------------------------------------------------

  softmax(logits: DeviceTensor): DeviceTensor {
    const [n, c] = logits.shape;
    const y = this.alloc(logits.shape);
    this.run(loss.softmaxKernel(n, c, numel(logits.shape.slice(2))), [this.t(logits), y]);
    return y;
  }

  async segLossStats(logits: DeviceTensor, target: DeviceTensor, ignoreLabel: number | null): Promise<SegLossStats> {
    const [n, c] = logits.shape;
    const sp = numel(logits.shape.slice(2));
    const chunks = chunksFor(sp);
    const R = 3 * c + 2;
    const p = this.scratch(n * chunks * R);
    this.run(loss.segLossStatsKernel(n, c, sp, chunks, ignoreLabel), [this.t(logits), this.t(target), p]);
    const v = await this.readBuffer(p.buffer, n * chunks * R);
    this.free(p);
    const tp = new Float64Array(n * c), sumPred = new Float64Array(n * c), sumGt = new Float64Array(n * c);
    let ceSum = 0, nValid = 0;
    for (let b = 0; b < n; b++)
      for (let k = 0; k < chunks; k++) {
        const o = (b * chunks + k) * R;
        ceSum += v[o];
        nValid += v[o + 1];
        for (let q = 0; q < c; q++) {
          tp[b * c + q] += v[o + 2 + q];
          sumPred[b * c + q] += v[o + 2 + c + q];
          sumGt[b * c + q] += v[o + 2 + 2 * c + q];
        }
      }
    return { ceSum, nValid, tp, sumPred, sumGt };
  }

  segLossBackward(logits: DeviceTensor, target: DeviceTensor, coeffs: SegLossGradCoeffs, ignoreLabel: number | null): DeviceTensor {
    const [n, c] = logits.shape;
    const cf = new Float32Array(1 + 2 * n * c);
    cf[0] = coeffs.ceScale;
    cf.set(coeffs.dTp, 1);
    cf.set(coeffs.dSumPred, 1 + n * c);
    const dx = this.alloc(logits.shape);
    this.run(loss.segLossBackwardKernel(n, c, numel(logits.shape.slice(2)), ignoreLabel), [
      this.t(logits),
      this.t(target),
      this.consts(cf),
      dx,
    ]);
    return dx;
  }

  downsampleSeg(target: DeviceTensor, outSpatial: readonly number[]): DeviceTensor {
    const out = this.alloc([target.shape[0], target.shape[1], ...outSpatial]);
    const k = ew.downsampleSegKernel(target.shape[0] * target.shape[1], to3(target.shape.slice(2), 1), to3(outSpatial, 1));
    this.run(k, [this.t(target), out]);
    return out;
  }

  // ---- optimiser -------------------------------------------------------------------------------------------

  async sumSquares(ts: readonly DeviceTensor[]): Promise<number> {
    const offsets: number[] = [];
    let total = 0;
    for (const x of ts) {
      offsets.push(total);
      total += chunksFor(x.size);
    }
    if (total === 0) return 0;
    const p = this.scratch(total);
    ts.forEach((x, k) => this.run(ew.sumSquaresPartialKernel(x.size, offsets[k]), [this.t(x), p]));
    const v = await this.readBuffer(p.buffer, total);
    this.free(p);
    let s = 0;
    for (const e of v) s += e;
    return s;
  }

  sgdStep(param: DeviceTensor, grad: DeviceTensor, buf: DeviceTensor, o: SgdOptions): void {
    const h = this.consts([o.lr, o.momentum, o.weightDecay, o.gradScale, o.firstStep ? 1 : 0, o.nesterov ? 1 : 0]);
    this.run(ew.sgdKernel(param.size), [this.t(param), this.t(grad), this.t(buf), h]);
  }
}
