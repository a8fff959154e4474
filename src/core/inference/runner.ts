// The one interface the sliding window and the predictor talk to. Implementations: onnxruntime-node
// (src/node/ortNodeRunner.ts), onnxruntime-web (browser worker), and plain-TS runners in tests.

export interface RunOutput {
  data: Float32Array;
  shape: number[];
}

export interface NetworkRunner {
  /** what actually runs the network, e.g. 'onnxruntime-node/cpu', 'onnxruntime-web/webgpu' */
  readonly device: string;
  /** Runs the network on one float32 tensor (NC…, C-order); returns its first output. */
  run(input: Float32Array, shape: number[]): Promise<RunOutput>;
  dispose(): Promise<void>;
}

/** A runner from a plain function (tests, CPU reference networks). */
export function functionRunner(fn: (input: Float32Array, shape: number[]) => RunOutput | Promise<RunOutput>, device = 'js'): NetworkRunner {
  return {
    device,
    run: async (input, shape) => fn(input, shape),
    dispose: async () => {},
  };
}
