// Trainer checkpoint and export costs for nnU-Net's Hippocampus 3d_fullres network (4 stages, 32–256
// features): checkpoint encode (weights + SGD momentum → .json + .bin with sha256) and decode vs PyTorch's
// torch.save / torch.load of the same tensors (what nnU-Net's save_checkpoint/load_checkpoint cost), side by
// side in one run; plus the ONNX export (Conv 1×1 + depth-to-space form) time and size.
// Run alone: node bin/run-ts.mjs bench/trainer.bench.ts
import { fileURLToPath } from 'node:url';
import { CpuBackend } from '../src/training/kernels/cpu/cpuBackend.ts';
import { PlainConvUNet, type UNetConfig } from '../src/training/nn/plainConvUNet.ts';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointData } from '../src/training/trainer/checkpoint.ts';
import { unetToOnnx } from '../src/training/trainer/exportOnnx.ts';
import { emptyLog } from '../src/training/trainer/log.ts';
import { median, pythonHas, runPythonJson, timeRuns } from './util.ts';

const NET: UNetConfig = HIPPOCAMPUS_NET;
const PATCH = [40, 56, 40];

const TORCH = String.raw`
import io, json, sys, time, torch
shapes = json.loads(sys.argv[1]); reps = int(sys.argv[2])
torch.manual_seed(0)
sd = {k: torch.randn(*s) for k, s in shapes.items()}
ck = {'network_weights': sd, 'optimizer_state': {'state': {i: {'momentum_buffer': v.clone()} for i, v in enumerate(sd.values())}}}
save, load = [], []
for _ in range(reps + 1):
    b = io.BytesIO(); t0 = time.perf_counter(); torch.save(ck, b); save.append(time.perf_counter() - t0)
    b.seek(0); t0 = time.perf_counter(); torch.load(b); load.append(time.perf_counter() - t0)
    size = b.getbuffer().nbytes
med = lambda v: sorted(v[1:])[len(v[1:]) // 2] * 1000
print(json.dumps({'save_ms': med(save), 'load_ms': med(load), 'bytes': size, 'torch': torch.__version__}))
`;
import { HIPPOCAMPUS_NET } from './hippocampusNet.ts';

export async function run(): Promise<Record<string, unknown>> {
  const reps = Number(process.env.SEGSTUDIO_BENCH_REPEATS ?? 3);
  const net = new PlainConvUNet(new CpuBackend('float32'), NET, 1);
  const weights = await net.getStateDict();
  const momentum = Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, v.data.map((x) => x * 0.5)]));
  const params = Object.values(weights).reduce((a, v) => a + v.data.length, 0);
  const data: CheckpointData = {
    meta: {
      format: 'segstudio-checkpoint/1', trainer_name: 'nnUNetTrainer', dataset_name: 'Dataset004_Hippocampus', plans_name: 'nnUNetPlans',
      configuration: '3d_fullres', fold: 0, current_epoch: 1, init_args: {}, network: NET, patch_size: PATCH, batch_size: 9,
      logging: emptyLog(), _best_ema: null, optimizer: { initial_lr: 0.01, momentum: 0.99, weight_decay: 3e-5, nesterov: true, step: 250 },
      rng: {}, inference_allowed_mirroring_axes: [0, 1, 2], backend: 'cpu-float32', saved_at: 0,
    },
    weights,
    momentum,
  };
  let enc: { json: Uint8Array; bin: Uint8Array } | null = null;
  const encMs = await timeRuns(async () => (enc = await encodeCheckpoint(data, 'checkpoint_latest.bin')), reps);
  const decMs = await timeRuns(() => decodeCheckpoint(enc!.json, enc!.bin, 'checkpoint_latest.json'), reps);
  let onnxBytes = 0;
  const onnxMs = await timeRuns(() => (onnxBytes = unetToOnnx({ ...NET, deepSupervision: false }, weights, PATCH).length), reps);
  const out: Record<string, unknown> = {
    network: 'Hippocampus 3d_fullres PlainConvUNet (32-256 features, 4 stages)',
    parameters: params,
    checkpoint_bytes: enc!.bin.length + enc!.json.length,
    checkpoint_encode_ms: median(encMs),
    checkpoint_decode_ms: median(decMs),
    onnx_export_ms: median(onnxMs),
    onnx_bytes: onnxBytes,
  };
  if (pythonHas('torch')) {
    const shapes = Object.fromEntries(Object.entries(weights).map(([k, v]) => [k, v.shape]));
    const t = runPythonJson(TORCH, [JSON.stringify(shapes), String(reps)]);
    out.torch = t;
    out.ratio_encode_vs_torch_save = median(encMs) / (t.save_ms as number);
    out.ratio_decode_vs_torch_load = median(decMs) / (t.load_ms as number);
  } else out.torch = 'skipped: /usr/bin/python3 with torch not found';
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(JSON.stringify(await run(), null, 2));
}
