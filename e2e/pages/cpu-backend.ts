// Browser training-backend selection (issue 8) on this page's real WebGPU adapter (SwiftShader here) and
// onnxruntime-web's WASM build served from our origin (/ort/, as the app's workers load it): 'auto' must pick
// the fast CPU backend and say the adapter is a software renderer, 'webgpu' must force WebGPU, the shared
// kernel suite must pass on the WASM-backed fast CPU backend against the CPU reference, and a few training
// steps of a tiny PlainConvUNet on it must reduce the loss. Published for e2e/training-backend.e2e.ts.
import { loadOrt } from '../../src/app/runtime/ortWebRunner.ts';
import { selectBrowserBackend } from '../../src/training/engine/browserBackend.ts';
import type { Backend } from '../../src/training/engine/backend.ts';
import { CpuBackend } from '../../src/training/kernels/cpu/cpuBackend.ts';
import type { OrtLike } from '../../src/training/kernels/fast-cpu/fastCpuBackend.ts';
import { runBackendSuite, type SuiteResult } from '../../src/training/kernels/testing/suite.ts';
import { rng } from '../../src/training/kernels/testing/util.ts';
import { PlainConvUNet, type UNetConfig } from '../../src/training/nn/plainConvUNet.ts';
import { SGD, polyLR } from '../../src/training/nn/optimizer.ts';
import { trainStep } from '../../src/training/nn/trainStep.ts';

export interface BackendPageResult {
  auto: { kind: string; name: string; reason: string };
  forcedWebgpu: { kind: string; name: string; reason: string };
  suite: SuiteResult[];
  losses: number[];
  ms: { select: number; suite: number; train: number };
}

declare global {
  interface Window {
    __backendPage?: BackendPageResult | { error: string };
  }
}

const loadWasmOrt = async () => (await loadOrt('wasm')) as unknown as OrtLike;

/** A bright-ball segmentation on 12³ volumes, as in src/training/kernels/fast-cpu/fastCpu.test.ts. */
async function train(b: Backend, iters: number): Promise<number[]> {
  const cfg: UNetConfig = {
    inputChannels: 1,
    numClasses: 2,
    nStages: 3,
    featuresPerStage: [4, 8, 8],
    kernelSizes: [[3, 3, 3], [3, 3, 3], [3, 3, 3]],
    strides: [[1, 1, 1], [2, 2, 2], [1, 2, 2]],
    nConvPerStage: [1, 1, 1],
    nConvPerStageDecoder: [1, 1],
    convBias: true,
    deepSupervision: true,
  };
  const net = new PlainConvUNet(b, cfg, 3);
  const opt = new SGD(b, net.params);
  const r = rng(7);
  const n = 2, S = 12;
  const img = new Float32Array(n * S * S * S), lab = new Float32Array(n * S * S * S);
  const x = b.zeros([n, 1, S, S, S]), t = b.zeros([n, 1, S, S, S]);
  const losses: number[] = [];
  for (let it = 0; it < iters; it++) {
    for (let k = 0; k < n; k++) {
      const cz = 3 + r() * 6, cy = 3 + r() * 6, cx = 3 + r() * 6, rad = 2 + r() * 2;
      for (let z = 0; z < S; z++)
        for (let y = 0; y < S; y++)
          for (let xx = 0; xx < S; xx++) {
            const i = ((k * S + z) * S + y) * S + xx;
            const inside = (z - cz) ** 2 + (y - cy) ** 2 + (xx - cx) ** 2 < rad * rad;
            lab[i] = inside ? 1 : 0;
            img[i] = (inside ? 1 : 0) + 0.3 * (r() - 0.5);
          }
    }
    b.write(x, img);
    b.write(t, lab);
    const res = await trainStep(net, opt, x, t, { batchDice: false, ignoreLabel: null }, polyLR(0.01, it, iters));
    losses.push(res.loss);
  }
  b.free(x);
  b.free(t);
  return losses;
}

async function main(): Promise<void> {
  const out = document.getElementById('out')!;
  try {
    let t0 = performance.now();
    const auto = await selectBrowserBackend('auto', { loadOrt: loadWasmOrt });
    const forced = await selectBrowserBackend('webgpu', { loadOrt: loadWasmOrt });
    const select = performance.now() - t0;
    forced.backend.dispose();
    t0 = performance.now();
    const suite = await runBackendSuite(auto.backend, new CpuBackend('float32'), { network: true });
    const suiteMs = performance.now() - t0;
    t0 = performance.now();
    const losses = await train(auto.backend, 16);
    const trainMs = performance.now() - t0;
    auto.backend.dispose();
    const info = (c: typeof auto) => ({ kind: c.kind, name: c.backend.name, reason: c.reason });
    window.__backendPage = { auto: info(auto), forcedWebgpu: info(forced), suite, losses, ms: { select, suite: suiteMs, train: trainMs } };
    out.textContent = JSON.stringify(window.__backendPage, null, 1);
  } catch (e) {
    window.__backendPage = { error: e instanceof Error ? `${e.message}\n${e.stack}` : String(e) };
    out.textContent = String(e);
  }
}
void main();
