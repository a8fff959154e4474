// The fast CPU Backend (issue 8): convolutions run as small fixed-shape ONNX graphs on onnxruntime's CPU
// kernels (MLAS GEMM, multi-threaded), everything memory-bound (norm, activation, loss, SGD, concat) runs the
// plain TypeScript kernels of the CPU reference in place on float32 buffers.
//
// onnxruntime's `run` is asynchronous while Backend ops return tensors synchronously, so this backend works
// like a GPU queue: every op allocates its output tensor(s) at once and enqueues the work on one serial
// promise chain; `download`, `segLossStats`, `sumSquares` and `sync` wait for the queue. Buffers come from
// an exact-size pool and go back to it when freed (after the queued work that uses them has run), so a
// training loop reaches a steady state without allocating.
//
// The onnxruntime module is injected (`OrtLike`): src/node/ortTrainingOps.ts passes onnxruntime-node; a
// browser passes onnxruntime-web (WASM backend). Nothing here touches Node or the DOM.
import type {
  Backend,
  ConvSpec,
  DeviceTensor,
  SegLossGradCoeffs,
  SegLossStats,
  SgdOptions,
} from '../../engine/backend.ts';
import { convOutShape, numel, sameShape, to3 } from '../../engine/backend.ts';
import * as conv from '../cpu/conv.ts';
import * as norm from '../cpu/norm.ts';
import * as ops from '../cpu/tensorOps.ts';
import * as loss from '../cpu/loss.ts';
import { sgdStep } from '../cpu/sgd.ts';
import * as graphs from './ortGraphs.ts';

/** The slice of the onnxruntime API this backend uses (onnxruntime-node and onnxruntime-web both fit). */
export interface OrtLike {
  InferenceSession: {
    create(model: Uint8Array, options?: Record<string, unknown>): Promise<OrtSessionLike>;
  };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
}
export interface OrtSessionLike {
  /** fetches: pre-allocated output tensors onnxruntime writes into */
  run(feeds: Record<string, unknown>, fetches?: Record<string, unknown>): Promise<Record<string, { data: unknown }>>;
  release?(): Promise<void>;
}

export interface FastCpuOptions {
  /** onnxruntime intra-op threads (default: onnxruntime's choice, all cores) */
  threads?: number;
  /** extra session options passed to InferenceSession.create (e.g. executionProviders for onnxruntime-web) */
  sessionOptions?: Record<string, unknown>;
  /** most bytes kept in the free-buffer pool (default 2 GiB) */
  maxPoolBytes?: number;
  /**
   * pass pre-allocated output tensors to run() (default true). onnxruntime-web's WASM backend copies a
   * pre-allocated CPU output into its heap and never copies the result back (lib/wasm/wasm-core-impl.ts,
   * "output tensor is pre-allocated. no need to copy data"), so the browser sets this to false.
   */
  preallocatedOutputs?: boolean;
}

export class FastCpuTensor implements DeviceTensor {
  readonly size: number;
  /** the backing buffer, present once the op producing it has run */
  data: Float32Array | null = null;
  freed = false;
  constructor(readonly shape: readonly number[]) {
    this.size = numel(shape);
  }
}

function spatial(shape: readonly number[]): number {
  return numel(shape.slice(2));
}

export class FastCpuBackend implements Backend {
  readonly name = 'cpu-fast';
  readonly dtype = 'float32' as const;
  private live = new Set<FastCpuTensor>();
  private pool = new Map<number, Float32Array[]>();
  private pooledBytes = 0;
  private queue: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  private sessions = new Map<string, Promise<OrtSessionLike>>();
  private readonly maxPoolBytes: number;
  /** counters for the benchmark: onnxruntime runs and sessions created */
  readonly stats = { ortRuns: 0, sessionsCreated: 0, ortMs: 0, tsMs: 0, msByOp: {} as Record<string, number> };

  constructor(
    private readonly ort: OrtLike,
    private readonly opts: FastCpuOptions = {},
  ) {
    this.maxPoolBytes = opts.maxPoolBytes ?? 2 * 1024 ** 3;
  }

  // ---- queue and buffers ---------------------------------------------------------------------------------

  private enqueue(work: () => void | Promise<void>): void {
    this.queue = this.queue.then(async () => {
      if (this.failure) return;
      try {
        await work();
      } catch (e) {
        this.failure = e;
      }
    });
  }

  private async drain(): Promise<void> {
    await this.queue;
    if (this.failure) {
      const e = this.failure;
      this.failure = null;
      throw e;
    }
  }

  private take(n: number, zero: boolean): Float32Array {
    const list = this.pool.get(n);
    const a = list?.pop();
    if (a) {
      this.pooledBytes -= a.byteLength;
      if (zero) a.fill(0);
      return a;
    }
    return new Float32Array(n);
  }

  private give(a: Float32Array): void {
    if (this.pooledBytes + a.byteLength > this.maxPoolBytes) return;
    let list = this.pool.get(a.length);
    if (!list) this.pool.set(a.length, (list = []));
    list.push(a);
    this.pooledBytes += a.byteLength;
  }

  private out(shape: readonly number[]): FastCpuTensor {
    const t = new FastCpuTensor([...shape]);
    this.live.add(t);
    return t;
  }

  /** Buffer of a tensor inside queued work (allocating it zeroed when an op writes it). */
  private buf(t: DeviceTensor, alloc = false): Float32Array {
    const f = t as FastCpuTensor;
    if (!(f instanceof FastCpuTensor)) throw new Error('tensor does not belong to the fast CPU backend');
    if (!f.data) {
      if (!alloc) throw new Error(`fast CPU backend: tensor [${f.shape}] read before it was written`);
      f.data = this.take(f.size, true);
    }
    return f.data;
  }

  private check(t: DeviceTensor): FastCpuTensor {
    const f = t as FastCpuTensor;
    if (!(f instanceof FastCpuTensor)) throw new Error('tensor does not belong to the fast CPU backend');
    if (f.freed) throw new Error('use of a freed tensor');
    return f;
  }

  /** Enqueues a TypeScript kernel writing `outs` from `ins`. */
  private ts(ins: DeviceTensor[], outs: FastCpuTensor[], fn: () => void): void {
    for (const t of ins) this.check(t);
    this.enqueue(() => {
      const t0 = performance.now();
      for (const o of outs) this.buf(o, true);
      fn();
      this.stats.tsMs += performance.now() - t0;
    });
  }

  private session(key: string, build: () => Uint8Array): Promise<OrtSessionLike> {
    let s = this.sessions.get(key);
    if (!s) {
      // no per-session memory arena: 60+ sessions each keeping their peak im2col buffers would hold gigabytes
      // no spinning intra-op threads: on a loaded machine (more runnable threads than cores) a spinning pool waits
      // for a descheduled peer on every one of the ~100 small runs per step (measured: a 16³ step 1.3 s → 0.08 s
      // at load 8 on 2 cores; Hippocampus 16–128 features batch 2: 14.8 s → 7.5 s)
      const so: Record<string, unknown> = {
        graphOptimizationLevel: 'all',
        logSeverityLevel: 3,
        enableCpuMemArena: false,
        extra: { session: { intra_op: { allow_spinning: '0' } } },
        ...this.opts.sessionOptions,
      };
      if (this.opts.threads) so.intraOpNumThreads = this.opts.threads;
      s = this.ort.InferenceSession.create(build(), so);
      this.stats.sessionsCreated++;
      this.sessions.set(key, s);
    }
    return s;
  }

  /** Enqueues one onnxruntime run: feeds are tensors of this backend; the single output is written into a pooled buffer. */
  private ortOp(key: string, build: () => Uint8Array, feeds: Record<string, DeviceTensor>, outName: string, out: FastCpuTensor): void {
    for (const t of Object.values(feeds)) this.check(t);
    this.enqueue(async () => {
      const sess = await this.session(key, build);
      const t0 = performance.now();
      const f: Record<string, unknown> = {};
      for (const [name, t] of Object.entries(feeds)) f[name] = new this.ort.Tensor('float32', this.buf(t), t.shape);
      const dst = this.take(out.size, false);
      const res = this.opts.preallocatedOutputs === false
        ? await sess.run(f)
        : await sess.run(f, { [outName]: new this.ort.Tensor('float32', dst, out.shape) });
      const data = res[outName]?.data;
      if (!(data instanceof Float32Array) || data.length !== out.size) throw new Error(`onnxruntime returned an unexpected ${outName} for [${out.shape}]`);
      // onnxruntime-node writes into the pre-allocated tensor; a runtime that ignores it returns its own array
      if (data !== dst) dst.set(data);
      out.data = dst;
      this.stats.ortRuns++;
      const dt = performance.now() - t0;
      this.stats.ortMs += dt;
      const op = key.slice(0, key.indexOf('|'));
      this.stats.msByOp[op] = (this.stats.msByOp[op] ?? 0) + dt;
    });
  }

  // ---- storage -------------------------------------------------------------------------------------------

  zeros(shape: readonly number[]): DeviceTensor {
    const t = this.out(shape);
    this.enqueue(() => void this.buf(t, true));
    return t;
  }
  upload(data: ArrayLike<number>, shape: readonly number[]): DeviceTensor {
    if (data.length !== numel(shape)) throw new Error(`upload: ${data.length} values for shape [${shape}]`);
    const t = this.out(shape);
    // copied now: the caller may reuse its array as soon as upload returns
    const a = this.take(t.size, false);
    a.set(data);
    this.enqueue(() => {
      t.data = a;
    });
    return t;
  }
  write(t: DeviceTensor, data: ArrayLike<number>): void {
    this.check(t);
    if (data.length !== t.size) throw new Error(`write: ${data.length} values into ${t.size}`);
    const a = Float32Array.from(data);
    this.enqueue(() => this.buf(t, true).set(a));
  }
  async download(t: DeviceTensor): Promise<Float32Array> {
    this.check(t);
    await this.drain();
    return this.buf(t).slice();
  }
  free(t: DeviceTensor): void {
    const f = this.check(t);
    f.freed = true;
    this.live.delete(f);
    this.enqueue(() => {
      if (f.data) this.give(f.data);
      f.data = null;
    });
  }
  copy(t: DeviceTensor): DeviceTensor {
    const o = this.out(t.shape);
    this.ts([t], [o], () => this.buf(o).set(this.buf(t)));
    return o;
  }
  async sync(): Promise<void> {
    await this.drain();
  }
  dispose(): void {
    this.live.clear();
    this.pool.clear();
    this.pooledBytes = 0;
    const ss = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of ss) void s.then((x) => x.release?.()).catch(() => undefined);
  }
  memoryStats() {
    let bytes = 0;
    for (const t of this.live) bytes += t.size * 4;
    return { liveTensors: this.live.size, liveBytes: bytes, pooledBytes: this.pooledBytes };
  }
  /** Number of cached onnxruntime sessions (one per op shape). */
  sessionCount(): number {
    return this.sessions.size;
  }

  // ---- convolution ---------------------------------------------------------------------------------------

  conv(x: DeviceTensor, w: DeviceTensor, b: DeviceTensor | null, spec: ConvSpec): DeviceTensor {
    const y = this.out(convOutShape(x.shape, w.shape, spec));
    const key = `conv|${x.shape}|${w.shape}|${!!b}|${JSON.stringify(spec)}`;
    const feeds: Record<string, DeviceTensor> = { x, w };
    if (b) feeds.b = b;
    this.ortOp(key, () => graphs.convForwardGraph(x.shape, w.shape, !!b, spec), feeds, 'y', y);
    return y;
  }
  convBackwardData(dy: DeviceTensor, w: DeviceTensor, xShape: readonly number[], spec: ConvSpec): DeviceTensor {
    const dx = this.out(xShape);
    const key = `convBD|${dy.shape}|${w.shape}|${xShape}|${JSON.stringify(spec)}`;
    this.ortOp(key, () => graphs.convBackwardDataGraph(dy.shape, w.shape, xShape, spec), { dy, w }, 'dx', dx);
    return dx;
  }
  convBackwardWeights(dy: DeviceTensor, x: DeviceTensor, wShape: readonly number[], spec: ConvSpec): DeviceTensor {
    const dw = this.out(wShape);
    const key = `convBW|${x.shape}|${dy.shape}|${wShape}|${JSON.stringify(spec)}`;
    this.ortOp(key, () => graphs.convBackwardWeightsGraph(x.shape, dy.shape, wShape, spec), { x, dy }, 'dw', dw);
    return dw;
  }
  biasGrad(dy: DeviceTensor): DeviceTensor {
    const db = this.out([dy.shape[1]]);
    this.ts([dy], [db], () => conv.biasGrad(this.buf(dy), dy.shape[0], dy.shape[1], spatial(dy.shape), this.buf(db)));
    return db;
  }
  convTranspose(x: DeviceTensor, w: DeviceTensor, b: DeviceTensor | null, stride: number[]): DeviceTensor {
    const y = this.out([x.shape[0], w.shape[1], ...x.shape.slice(2).map((s, i) => s * stride[i])]);
    const key = `convT|${x.shape}|${w.shape}|${!!b}|${stride}`;
    const feeds: Record<string, DeviceTensor> = { x, w };
    if (b) feeds.b = b;
    this.ortOp(key, () => graphs.convTransposeGraph(x.shape, w.shape, !!b, stride), feeds, 'y', y);
    return y;
  }
  convTransposeBackwardData(dy: DeviceTensor, w: DeviceTensor, stride: number[]): DeviceTensor {
    const dx = this.out([dy.shape[0], w.shape[0], ...dy.shape.slice(2).map((s, i) => s / stride[i])]);
    const key = `convTBD|${dy.shape}|${w.shape}|${stride}`;
    this.ortOp(key, () => graphs.convTransposeBackwardDataGraph(dy.shape, w.shape, stride), { dy, w }, 'dx', dx);
    return dx;
  }
  convTransposeBackwardWeights(dy: DeviceTensor, x: DeviceTensor, stride: number[]): DeviceTensor {
    // y = convT(x, w) ⇔ x-grad flows like a conv of y with weights w [Cin, Cout, s] and stride s:
    // dw[ci, co, a] = Σ x[n, ci, v]·dy[n, co, v·s + a] = conv-backward-weights with "input" dy and "output grad" x.
    const wShape = [x.shape[1], dy.shape[1], ...stride];
    const dw = this.out(wShape);
    const spec: ConvSpec = { stride: [...stride], padding: stride.map(() => 0), dilation: stride.map(() => 1) };
    const key = `convTBW|${x.shape}|${dy.shape}|${stride}`;
    this.ortOp(key, () => graphs.convBackwardWeightsGraph(dy.shape, x.shape, wShape, spec), { x: dy, dy: x }, 'dw', dw);
    return dw;
  }

  // ---- normalisation / activation (TypeScript kernels of the reference, in place) ------------------------

  instanceNorm(x: DeviceTensor, gamma: DeviceTensor, beta: DeviceTensor, eps: number) {
    const [n, c] = x.shape;
    const y = this.out(x.shape), mean = this.out([n * c]), invstd = this.out([n * c]);
    this.ts([x, gamma, beta], [y, mean, invstd], () =>
      norm.instanceNormForward(this.buf(x), this.buf(gamma), this.buf(beta), n, c, spatial(x.shape), eps, this.buf(y), this.buf(mean), this.buf(invstd)),
    );
    return { y: y as DeviceTensor, mean: mean as DeviceTensor, invstd: invstd as DeviceTensor };
  }
  instanceNormBackward(dy: DeviceTensor, x: DeviceTensor, gamma: DeviceTensor, mean: DeviceTensor, invstd: DeviceTensor) {
    const [n, c] = x.shape;
    const dx = this.out(x.shape), dgamma = this.out([c]), dbeta = this.out([c]);
    this.ts([dy, x, gamma, mean, invstd], [dx, dgamma, dbeta], () =>
      norm.instanceNormBackward(this.buf(dy), this.buf(x), this.buf(gamma), this.buf(mean), this.buf(invstd), n, c, spatial(x.shape), this.buf(dx), this.buf(dgamma), this.buf(dbeta)),
    );
    return { dx: dx as DeviceTensor, dgamma: dgamma as DeviceTensor, dbeta: dbeta as DeviceTensor };
  }
  leakyRelu(x: DeviceTensor, slope: number): DeviceTensor {
    const y = this.out(x.shape);
    this.ts([x], [y], () => norm.leakyReluForward(this.buf(x), slope, this.buf(y)));
    return y;
  }
  leakyReluBackward(dy: DeviceTensor, x: DeviceTensor, slope: number): DeviceTensor {
    const dx = this.out(x.shape);
    this.ts([dy, x], [dx], () => norm.leakyReluBackward(this.buf(dy), this.buf(x), slope, this.buf(dx)));
    return dx;
  }

  // ---- tensor algebra ------------------------------------------------------------------------------------

  concat(a: DeviceTensor, b: DeviceTensor): DeviceTensor {
    if (a.shape[0] !== b.shape[0] || !sameShape(a.shape.slice(2), b.shape.slice(2)))
      throw new Error(`concat: shapes [${a.shape}] and [${b.shape}] differ outside channels`);
    const out = this.out([a.shape[0], a.shape[1] + b.shape[1], ...a.shape.slice(2)]);
    this.ts([a, b], [out], () => ops.concatChannels(this.buf(a), this.buf(b), a.shape[0], a.shape[1], b.shape[1], spatial(a.shape), this.buf(out)));
    return out;
  }
  split(t: DeviceTensor, channelsA: number): [DeviceTensor, DeviceTensor] {
    const cb = t.shape[1] - channelsA;
    const a = this.out([t.shape[0], channelsA, ...t.shape.slice(2)]);
    const b = this.out([t.shape[0], cb, ...t.shape.slice(2)]);
    this.ts([t], [a, b], () => ops.splitChannels(this.buf(t), t.shape[0], channelsA, cb, spatial(t.shape), this.buf(a), this.buf(b)));
    return [a, b];
  }
  add(a: DeviceTensor, b: DeviceTensor): DeviceTensor {
    if (a.size !== b.size) throw new Error(`add: sizes ${a.size} and ${b.size}`);
    const out = this.out(a.shape);
    this.ts([a, b], [out], () => ops.add(this.buf(a), this.buf(b), this.buf(out)));
    return out;
  }
  scale(a: DeviceTensor, s: number): DeviceTensor {
    const out = this.out(a.shape);
    this.ts([a], [out], () => ops.scale(this.buf(a), s, this.buf(out)));
    return out;
  }
  axpy(alpha: number, x: DeviceTensor, y: DeviceTensor): void {
    if (x.size !== y.size) throw new Error(`axpy: sizes ${x.size} and ${y.size}`);
    this.ts([x, y], [], () => ops.axpy(alpha, this.buf(x), this.buf(y)));
  }

  // ---- loss ----------------------------------------------------------------------------------------------

  softmax(logits: DeviceTensor): DeviceTensor {
    const out = this.out(logits.shape);
    this.ts([logits], [out], () => loss.softmax(this.buf(logits), logits.shape[0], logits.shape[1], spatial(logits.shape), this.buf(out)));
    return out;
  }
  async segLossStats(logits: DeviceTensor, target: DeviceTensor, ignoreLabel: number | null): Promise<SegLossStats> {
    this.check(logits);
    this.check(target);
    await this.drain();
    return loss.segLossStats(this.buf(logits), this.buf(target), logits.shape[0], logits.shape[1], spatial(logits.shape), ignoreLabel);
  }
  segLossBackward(logits: DeviceTensor, target: DeviceTensor, coeffs: SegLossGradCoeffs, ignoreLabel: number | null): DeviceTensor {
    const dx = this.out(logits.shape);
    this.ts([logits, target], [dx], () =>
      loss.segLossBackward(this.buf(logits), this.buf(target), logits.shape[0], logits.shape[1], spatial(logits.shape), coeffs, ignoreLabel, this.buf(dx)),
    );
    return dx;
  }
  downsampleSeg(target: DeviceTensor, outSpatial: readonly number[]): DeviceTensor {
    const out = this.out([target.shape[0], target.shape[1], ...outSpatial]);
    this.ts([target], [out], () =>
      loss.downsampleSeg(this.buf(target), target.shape[0] * target.shape[1], to3(target.shape.slice(2), 1), to3(outSpatial, 1), this.buf(out)),
    );
    return out;
  }

  // ---- optimiser -----------------------------------------------------------------------------------------

  async sumSquares(ts: readonly DeviceTensor[]): Promise<number> {
    for (const t of ts) this.check(t);
    await this.drain();
    let s = 0;
    for (const t of ts) s += ops.sumSquares(this.buf(t));
    return s;
  }
  sgdStep(param: DeviceTensor, grad: DeviceTensor, buf: DeviceTensor, opts: SgdOptions): void {
    const o = { ...opts };
    this.ts([param, grad, buf], [], () => sgdStep(this.buf(param), this.buf(grad), this.buf(buf), o));
  }
}

