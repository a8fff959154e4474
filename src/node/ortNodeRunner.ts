// NetworkRunner on onnxruntime-node (CPU, or its bundled WebGPU execution provider: with
// VK_ICD_FILENAMES pointing at a Vulkan driver such as SwiftShader it runs on any machine).
// ConvTranspose is rewritten into Conv + depth-to-space before a WebGPU session is created
// (ORT's WebGPU EP has no 3D ConvTranspose).
import ort from 'onnxruntime-node';
import { SegStudioError } from '../core/errors.ts';
import { decodeModel, encodeModel } from '../core/inference/onnx/model.ts';
import { rewriteConvTransposeReport } from '../core/inference/onnx/rewrite.ts';
import type { NetworkRunner, RunOutput } from '../core/inference/runner.ts';

export interface OrtNodeRunnerOptions {
  device: 'cpu' | 'webgpu';
  /** intra-op threads (CPU); default: onnxruntime's choice (all cores) */
  threads?: number;
  /** for messages */
  fileName?: string;
}

/** Applies the ConvTranspose rewrite when the model has any; returns the bytes unchanged otherwise. */
export function prepareForWebGpu(modelBytes: Uint8Array, fileName = 'model.onnx'): Uint8Array {
  const m = decodeModel(modelBytes, fileName);
  if (!m.graph.nodes.some((n) => n.opType === 'ConvTranspose')) return modelBytes;
  const rep = rewriteConvTransposeReport(m, fileName);
  if (rep.skipped.length) {
    const s = rep.skipped[0];
    throw new SegStudioError('onnx-rewrite', `ConvTranspose '${s.node}' cannot run on WebGPU (${s.reason})`, fileName);
  }
  return encodeModel(rep.model);
}

export async function createOrtNodeRunner(modelBytes: Uint8Array, opts: OrtNodeRunnerOptions): Promise<NetworkRunner> {
  const fileName = opts.fileName ?? 'model.onnx';
  const bytes = opts.device === 'webgpu' ? prepareForWebGpu(modelBytes, fileName) : modelBytes;
  const sessOpts: ort.InferenceSession.SessionOptions = {
    executionProviders: [opts.device === 'webgpu' ? 'webgpu' : 'cpu'],
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
  if (opts.threads) sessOpts.intraOpNumThreads = opts.threads;
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, sessOpts);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new SegStudioError('onnx-session', `onnxruntime-node (${opts.device}) could not load the model: ${msg.split('\n')[0]}`, fileName);
  }
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  const device = `onnxruntime-node/${opts.device}`;
  return {
    device,
    async run(input: Float32Array, shape: number[]): Promise<RunOutput> {
      const t = new ort.Tensor('float32', input, shape);
      let res: ort.InferenceSession.OnnxValueMapType;
      try {
        res = await session.run({ [inputName]: t });
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        throw new SegStudioError('onnx-run', `running the network on input [${shape}] failed (${device}): ${msg.split('\n')[0]}`, fileName);
      }
      const out = res[outputName];
      const data = out.data;
      if (!(data instanceof Float32Array)) {
        throw new SegStudioError('onnx-run', `network output '${outputName}' is ${out.type}, expected float32`, fileName);
      }
      for (const k of Object.keys(res)) if (k !== outputName) res[k].dispose?.();
      return { data, shape: [...out.dims] };
    },
    async dispose() {
      await session.release();
    },
  };
}
