// PlainConvUNet as nnU-Net builds it from a plans configuration.
// dynamic_network_architectures: architectures/unet.py (PlainConvUNet), building_blocks/plain_conv_encoder.py,
// building_blocks/unet_decoder.py, building_blocks/simple_conv_blocks.py (StackedConvBlocks,
// ConvDropoutNormReLU: conv (bias) → InstanceNorm (affine, eps 1e-5) → LeakyReLU 0.01, padding (k − 1)//2);
// initialisation nnU-Net: network_architecture/... InitWeights_He(1e-2) (kaiming_normal_, a = 1e-2, biases 0).
//
// Parameter names follow the PyTorch state_dict of that module, e.g.
//   encoder.stages.0.0.convs.0.conv.weight, encoder.stages.0.0.convs.0.norm.weight,
//   decoder.transpconvs.0.weight, decoder.stages.0.convs.1.conv.bias, decoder.seg_layers.2.weight
import type { Backend, ConvSpec, DeviceTensor } from '../engine/backend.ts';
import { convSpecFor, numel } from '../engine/backend.ts';
import { Graph, Parameter, type Tensor } from '../engine/autograd.ts';
import type { ConfigurationPlans } from '../../core/planning/plans.ts';
import { SegStudioError } from '../../core/errors.ts';

export interface UNetConfig {
  inputChannels: number;
  numClasses: number;
  nStages: number;
  featuresPerStage: number[];
  /** per stage, one entry per spatial axis (2 or 3) */
  kernelSizes: number[][];
  strides: number[][];
  nConvPerStage: number[];
  nConvPerStageDecoder: number[];
  convBias: boolean;
  deepSupervision: boolean;
  normEps?: number;
  negativeSlope?: number;
}

/** Reads arch_kwargs of a plans configuration (nnU-Net: utilities/get_network_from_plans.py). */
export function unetConfigFromPlans(
  config: ConfigurationPlans,
  inputChannels: number,
  numClasses: number,
  deepSupervision = true,
): UNetConfig {
  const a = config.architecture?.arch_kwargs;
  if (!a) throw new SegStudioError('plans', 'configuration has no architecture.arch_kwargs', 'plans.json');
  if (config.architecture && !config.architecture.network_class_name.endsWith('PlainConvUNet'))
    throw new SegStudioError(
      'plans',
      `network ${config.architecture.network_class_name} is not supported (only PlainConvUNet)`,
      'plans.json',
    );
  return {
    inputChannels,
    numClasses,
    nStages: a.n_stages,
    featuresPerStage: a.features_per_stage,
    kernelSizes: a.kernel_sizes,
    strides: a.strides,
    nConvPerStage: a.n_conv_per_stage,
    nConvPerStageDecoder: a.n_conv_per_stage_decoder,
    convBias: a.conv_bias ?? true,
    deepSupervision,
    normEps: a.norm_op_kwargs?.eps ?? 1e-5,
    negativeSlope: a.nonlin_kwargs?.negative_slope ?? 1e-2,
  };
}

interface ConvBlock {
  prefix: string;
  w: Parameter;
  b: Parameter | null;
  gamma: Parameter;
  beta: Parameter;
  spec: ConvSpec;
}

/** Deterministic normal samples for He init (mulberry32 + Box–Muller). */
function normalSampler(seed: number): () => number {
  let a = seed >>> 0;
  const u = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(Math.max(u(), 1e-12))) * Math.cos(2 * Math.PI * u());
}

export class PlainConvUNet {
  readonly config: UNetConfig;
  readonly params: Parameter[] = [];
  private readonly byName = new Map<string, Parameter>();
  private encoder: ConvBlock[][] = [];
  private decoderStages: ConvBlock[][] = [];
  private transp: { w: Parameter; b: Parameter | null; stride: number[] }[] = [];
  private segLayers: { w: Parameter; b: Parameter }[] = [];
  private readonly eps: number;
  private readonly slope: number;

  constructor(
    readonly backend: Backend,
    config: UNetConfig,
    seed = 12345,
  ) {
    this.config = config;
    this.eps = config.normEps ?? 1e-5;
    this.slope = config.negativeSlope ?? 1e-2;
    const nd = config.kernelSizes[0].length;
    const c = config;
    for (const [k, arr] of Object.entries({
      featuresPerStage: c.featuresPerStage,
      kernelSizes: c.kernelSizes,
      strides: c.strides,
      nConvPerStage: c.nConvPerStage,
    }))
      if (arr.length !== c.nStages)
        throw new SegStudioError('plans', `${k} has ${arr.length} entries but n_stages is ${c.nStages}`, 'plans.json');
    if (c.nConvPerStageDecoder.length !== c.nStages - 1)
      throw new SegStudioError('plans', `n_conv_per_stage_decoder needs ${c.nStages - 1} entries`, 'plans.json');
    const rand = normalSampler(seed);
    const he = (shape: number[], fanIn: number): Float32Array => {
      // kaiming_normal_(a=1e-2, mode='fan_in', leaky_relu): std = sqrt(2 / (1 + a²)) / sqrt(fan_in)
      const std = Math.sqrt(2 / (1 + 1e-4)) / Math.sqrt(fanIn);
      const v = new Float32Array(numel(shape));
      for (let i = 0; i < v.length; i++) v[i] = rand() * std;
      return v;
    };
    const param = (name: string, data: Float32Array, shape: number[]) => {
      const p = new Parameter(this.backend.upload(data, shape), name);
      this.params.push(p);
      this.byName.set(name, p);
      return p;
    };
    const convBlock = (prefix: string, cin: number, cout: number, k: number[], stride: number[]): ConvBlock => {
      const ws = [cout, cin, ...k];
      return {
        prefix,
        w: param(`${prefix}.conv.weight`, he(ws, cin * numel(k)), ws),
        b: c.convBias ? param(`${prefix}.conv.bias`, new Float32Array(cout), [cout]) : null,
        gamma: param(`${prefix}.norm.weight`, new Float32Array(cout).fill(1), [cout]),
        beta: param(`${prefix}.norm.bias`, new Float32Array(cout), [cout]),
        spec: convSpecFor(k, stride),
      };
    };
    const ones = Array(nd).fill(1);
    // encoder: stage s = StackedConvBlocks, first conv strided
    let cin = c.inputChannels;
    for (let s = 0; s < c.nStages; s++) {
      const blocks: ConvBlock[] = [];
      for (let j = 0; j < c.nConvPerStage[s]; j++) {
        blocks.push(
          convBlock(`encoder.stages.${s}.0.convs.${j}`, j === 0 ? cin : c.featuresPerStage[s], c.featuresPerStage[s], c.kernelSizes[s], j === 0 ? c.strides[s] : ones),
        );
      }
      cin = c.featuresPerStage[s];
      this.encoder.push(blocks);
    }
    // decoder: for s = 1 .. nStages−1 (from the bottom up)
    for (let s = 1; s < c.nStages; s++) {
      const below = c.featuresPerStage[c.nStages - s];
      const skip = c.featuresPerStage[c.nStages - s - 1];
      const stride = c.strides[c.nStages - s];
      const i = s - 1;
      const tws = [below, skip, ...stride];
      this.transp.push({
        w: param(`decoder.transpconvs.${i}.weight`, he(tws, skip * numel(stride)), tws),
        b: c.convBias ? param(`decoder.transpconvs.${i}.bias`, new Float32Array(skip), [skip]) : null,
        stride,
      });
      const k = c.kernelSizes[c.nStages - s - 1];
      const blocks: ConvBlock[] = [];
      for (let j = 0; j < c.nConvPerStageDecoder[i]; j++)
        blocks.push(convBlock(`decoder.stages.${i}.convs.${j}`, j === 0 ? 2 * skip : skip, skip, k, ones));
      this.decoderStages.push(blocks);
      const sws = [c.numClasses, skip, ...ones];
      this.segLayers.push({
        w: param(`decoder.seg_layers.${i}.weight`, he(sws, skip), sws),
        b: param(`decoder.seg_layers.${i}.bias`, new Float32Array(c.numClasses), [c.numClasses]),
      });
    }
  }

  get spatialDims(): number {
    return this.config.kernelSizes[0].length;
  }

  /** Total downsampling factor per axis (patch sizes must be divisible by it). */
  get totalStride(): number[] {
    return this.config.strides.reduce((acc, s) => acc.map((v, i) => v * s[i]), Array(this.spatialDims).fill(1));
  }

  private block(g: Graph, x: Tensor, b: ConvBlock): Tensor {
    const y = g.conv(x, b.w, b.b, b.spec);
    const n = g.instanceNorm(y, b.gamma, b.beta, this.eps);
    g.release(y);
    const a = g.leakyRelu(n, this.slope);
    g.release(n);
    return a;
  }

  /**
   * Forward pass. Returns the segmentation logits: with deep supervision one per decoder stage, highest
   * resolution first (nnU-Net's order); without, a single element.
   */
  forward(g: Graph, x: Tensor): Tensor[] {
    const c = this.config;
    const skips: Tensor[] = [];
    let h = x;
    for (const stage of this.encoder) {
      for (const blk of stage) {
        const nh = this.block(g, h, blk);
        if (h !== x && !skips.includes(h)) g.release(h);
        h = nh;
      }
      skips.push(h);
    }
    const outs: Tensor[] = [];
    let lres = skips[skips.length - 1];
    for (let s = 0; s < this.decoderStages.length; s++) {
      const t = this.transp[s];
      const up = g.convTranspose(lres, t.w, t.b, t.stride);
      g.release(lres);
      const skip = skips[skips.length - 2 - s];
      let y = g.concat(up, skip);
      g.release(up);
      g.release(skip);
      for (const blk of this.decoderStages[s]) {
        const ny = this.block(g, y, blk);
        g.release(y);
        y = ny;
      }
      if (c.deepSupervision || s === this.decoderStages.length - 1) {
        const seg = this.segLayers[s];
        outs.push(g.conv(y, seg.w, seg.b, convSpecFor(seg.w.shape.slice(2), seg.w.shape.slice(2).map(() => 1))));
      }
      lres = y;
    }
    return outs.reverse();
  }

  /** Convenience inference: logits at full resolution, all intermediates freed (caller frees the result). */
  predict(x: DeviceTensor): DeviceTensor {
    const g = new Graph(this.backend, { grad: false });
    const ds = this.config.deepSupervision;
    this.config.deepSupervision = false;
    try {
      const [out] = this.forward(g, g.input(x));
      const keep = this.backend.copy(out.value);
      g.dispose();
      return keep;
    } finally {
      this.config.deepSupervision = ds;
    }
  }

  parameterNames(): string[] {
    return this.params.map((p) => p.name);
  }

  getParameter(name: string): Parameter | undefined {
    return this.byName.get(name);
  }

  /** Weights as named float32 arrays with PyTorch state_dict names and shapes. */
  async getStateDict(): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const p of this.params) {
      const d = await this.backend.download(p.value);
      out[p.name] = { shape: [...p.shape], data: d instanceof Float32Array ? d : Float32Array.from(d) };
    }
    return out;
  }

  /**
   * Loads weights by name. Also accepts nnU-Net checkpoints' aliases (`...all_modules.0.weight` for
   * `...conv.weight`, `...all_modules.1.*` for `...norm.*`, and the `decoder.encoder.*` duplicates are ignored).
   * Every parameter must be present with the right shape (strict, like torch's load_state_dict).
   */
  loadStateDict(sd: Record<string, { shape?: number[]; data: ArrayLike<number> }>, fileName = 'state dict'): void {
    const lookup = (name: string) => {
      if (sd[name]) return sd[name];
      const alias = name.replace(/\.conv\.(weight|bias)$/, '.all_modules.0.$1').replace(/\.norm\.(weight|bias)$/, '.all_modules.1.$1');
      return sd[alias];
    };
    for (const p of this.params) {
      const e = lookup(p.name);
      if (!e) throw new SegStudioError('checkpoint', `missing parameter ${p.name}`, fileName);
      if (e.data.length !== p.value.size || (e.shape && numel(e.shape) !== p.value.size))
        throw new SegStudioError('checkpoint', `parameter ${p.name} has ${e.data.length} values, expected shape [${p.shape}]`, fileName);
    }
    for (const p of this.params) this.backend.write(p.value, lookup(p.name)!.data);
  }

  /** Frees every parameter (and gradient) on the backend. */
  dispose(): void {
    for (const p of this.params) {
      this.backend.free(p.value);
      if (p.grad) this.backend.free(p.grad);
      p.grad = null;
    }
  }
}
