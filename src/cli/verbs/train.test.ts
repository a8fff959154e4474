// `segstudio train` and `segstudio export` end to end on 5 real hippocampus cases (symlinked into a temporary
// raw dataset; nothing is copied into the repository): nnU-Net's results layout, files that parse, a bundle that
// loads, the validation summary.json, and a process killed with SIGKILL mid-run that --resume continues.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, expect, it, vi } from 'vitest';
import { dataPath, describeWithData, repoRoot } from '../../../test/sharedData.ts';
import { loadBundle, unzipBundle } from '../../core/inference/bundle.ts';
import { parseSummaryJson } from '../../core/evaluation/metrics.ts';
import { readImageFile } from '../../core/io/index.ts';
import { readNpzKey } from '../../core/ensembling/npz.ts';
import { NodeTrainerFiles } from '../../node/trainerFiles.ts';
import { loadCheckpoint } from '../../training/trainer/checkpoint.ts';
import { tinyPlans } from '../../training/trainer/testing.ts';
import { run as train } from './train.ts';
import { run as exportBundle } from './export.ts';
import { run as predict } from './predict.ts';
import { DataType, decodeModel } from '../../core/inference/onnx/model.ts';

const CASES = ['hippocampus_003', 'hippocampus_006', 'hippocampus_007', 'hippocampus_008', 'hippocampus_011'];

function readFolder(dir: string): Map<string, Uint8Array> {
  return new Map(fs.readdirSync(dir).map((n) => [n, new Uint8Array(fs.readFileSync(path.join(dir, n)))]));
}

describeWithData('segstudio train / export (real hippocampus cases)', () => {
  let tmp = '';
  let dsDir = '';
  let plansFile = '';
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-train-'));
    dsDir = path.join(tmp, 'Dataset004_Hippocampus');
    fs.mkdirSync(path.join(dsDir, 'imagesTr'), { recursive: true });
    fs.mkdirSync(path.join(dsDir, 'labelsTr'), { recursive: true });
    const src = dataPath('Dataset004_Hippocampus');
    const ds = JSON.parse(fs.readFileSync(path.join(src, 'dataset.json'), 'utf8'));
    fs.writeFileSync(path.join(dsDir, 'dataset.json'), JSON.stringify({ ...ds, numTraining: CASES.length }));
    for (const c of CASES) {
      fs.symlinkSync(path.join(src, 'imagesTr', `${c}_0000.nii.gz`), path.join(dsDir, 'imagesTr', `${c}_0000.nii.gz`));
      fs.symlinkSync(path.join(src, 'labelsTr', `${c}.nii.gz`), path.join(dsDir, 'labelsTr', `${c}.nii.gz`));
    }
    // a tiny 2D configuration (the real plans' 3d_fullres network is far too slow for the CPU reference backend)
    const plans = tinyPlans({ features: [4, 8], kernel: [3, 3], strides: [[1, 1], [2, 2]], patch: [32, 24], batchSize: 2 }, '2d');
    plans.dataset_name = 'Dataset004_Hippocampus';
    plansFile = path.join(tmp, 'tiny_plans.json');
    fs.writeFileSync(plansFile, JSON.stringify(plans));
  });

  it('trains fold 0 and writes nnU-Net-like results that parse', async () => {
    const out = path.join(tmp, 'results');
    const code = await train([dsDir, '-c', '2d', '-f', '0', '-o', out, '--plans', plansFile, '--epochs', '2', '--iterations', '2', '--val-iterations', '1', '--backend', 'cpu-reference']);
    expect(code).toBe(0);
    const base = path.join(out, 'Dataset004_Hippocampus', 'nnUNetTrainer__nnUNetPlans__2d');
    const fold = path.join(base, 'fold_0');
    for (const f of ['plans.json', 'dataset.json']) expect(fs.existsSync(path.join(base, f))).toBe(true);
    const splits = JSON.parse(fs.readFileSync(path.join(out, 'Dataset004_Hippocampus', 'splits_final.json'), 'utf8'));
    expect(splits.length).toBe(5);
    expect(splits[0].val.length).toBe(1);
    // checkpoints: final and best (latest removed at the end, as nnU-Net)
    const st = new NodeTrainerFiles(fold);
    const final = await loadCheckpoint(st, 'final');
    expect(final.meta.current_epoch).toBe(2);
    expect(final.meta.fold).toBe(0);
    expect(final.meta.logging.train_losses.length).toBe(2);
    expect(await st.exists('checkpoint_best.json')).toBe(true);
    expect(await st.exists('checkpoint_latest.json')).toBe(false);
    expect(fs.readFileSync(path.join(fold, 'progress.svg'), 'utf8')).toMatch(/^<svg[\s\S]*loss_tr[\s\S]*<\/svg>\n$/);
    expect(fs.readFileSync(path.join(fold, 'training_log.txt'), 'utf8')).toMatch(/Epoch 1[\s\S]*Training done\./);
    const debug = JSON.parse(fs.readFileSync(path.join(fold, 'debug.json'), 'utf8'));
    expect(debug.val_cases).toEqual(splits[0].val);
    expect(debug.backend).toBe('cpu-float32');
    // the validation: one prediction on the original grid + summary.json
    const valCase = splits[0].val[0];
    const summary = parseSummaryJson(fs.readFileSync(path.join(fold, 'validation', 'summary.json'), 'utf8'));
    expect(summary.metric_per_case.length).toBe(1);
    expect(Object.keys(summary.mean).sort()).toEqual(['1', '2']);
    const pred = readImageFile(new Uint8Array(fs.readFileSync(path.join(fold, 'validation', `${valCase}.nii.gz`))), 'pred.nii.gz');
    const ref = readImageFile(new Uint8Array(fs.readFileSync(dataPath('Dataset004_Hippocampus', 'labelsTr', `${valCase}.nii.gz`))), 'ref.nii.gz');
    expect(pred.shape).toEqual(ref.shape);
    // nnU-Net --npz: the softmax probabilities on the original grid, whose argmax is the written prediction
    const probs = readNpzKey(new Uint8Array(fs.readFileSync(path.join(fold, 'validation', `${valCase}.npz`))), 'probabilities');
    expect(probs.shape).toEqual([3, ...ref.shape.slice(1)]);
    const nv = pred.data.length;
    let agree = 0;
    for (let i = 0; i < nv; i++) {
      const p0 = probs.data[i], p1 = probs.data[nv + i], p2 = probs.data[2 * nv + i];
      expect(p0 + p1 + p2).toBeCloseTo(1, 4);
      const am = p0 >= p1 && p0 >= p2 ? 0 : p1 >= p2 ? 1 : 2;
      if (am === pred.data[i]) agree++;
    }
    expect(agree).toBe(nv);
    // the bundle loads through the inference side's validation (manifest sha256, plans, ONNX)
    const bundle = await loadBundle(readFolder(path.join(fold, 'bundle')), 'bundle');
    expect(bundle.folds).toEqual([0]);
    expect(bundle.configuration).toBe('2d');

    // export: configuration folder → zip
    const zip = path.join(tmp, 'model.zip');
    expect(await exportBundle([base, '-o', zip])).toBe(0);
    const b2 = await loadBundle(unzipBundle(new Uint8Array(fs.readFileSync(zip)), zip), zip);
    expect(b2.folds).toEqual([0]);
    expect(Array.from(b2.networks[0].bytes)).toEqual(Array.from(bundle.networks[0].bytes));
    await expect(exportBundle([path.join(tmp, 'nope'), '-o', zip])).rejects.toThrow(/nope: folder not found/);
    // --weights float16: a smaller network that predicts the held-out case like the float32 one
    const half = path.join(tmp, 'model16');
    expect(await exportBundle([base, '-o', half, '--weights', 'float16'])).toBe(0);
    const b3 = await loadBundle(readFolder(half), half);
    expect(b3.networks[0].bytes.length).toBeLessThan(b2.networks[0].bytes.length);
    const full = path.join(tmp, 'model32');
    expect(await exportBundle([base, '-o', full])).toBe(0);
    const input = path.join(dsDir, 'imagesTr', `${CASES[0]}_0000.nii.gz`);
    const seg16 = path.join(tmp, 'seg16.nii.gz');
    const seg32 = path.join(tmp, 'seg32.nii.gz');
    expect(await predict(['-i', input, '-o', seg16, '-m', half, '--no-tta'])).toBe(0);
    expect(await predict(['-i', input, '-o', seg32, '-m', full, '--no-tta'])).toBe(0);
    const [l16, l32] = [seg16, seg32].map((f) => readImageFile(new Uint8Array(fs.readFileSync(f)), f));
    expect(decodeModel(b3.networks[0].bytes).graph.initializers.some((t) => t.dataType === DataType.FLOAT16)).toBe(true);
    let same = 0;
    for (let i = 0; i < l32.data.length; i++) if (l16.data[i] === l32.data[i]) same++;
    expect(same / l32.data.length).toBeGreaterThanOrEqual(0.999);
    await expect(exportBundle([base, '-o', half, '--weights', 'float8'])).rejects.toThrow(/--weights must be float32 or float16/);
  }, 240_000);

  it('a training process killed (SIGKILL) after checkpoint_latest resumes with --resume at the next epoch', async () => {
    const out = path.join(tmp, 'results_kill');
    const fold = path.join(out, 'Dataset004_Hippocampus', 'nnUNetTrainer__nnUNetPlans__2d', 'fold_1');
    const args = [dsDir, '-c', '2d', '-f', '1', '-o', out, '--plans', plansFile, '--epochs', '3', '--iterations', '2', '--val-iterations', '1', '--backend', 'cpu-reference', '--no-validation'];
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin/segstudio.mjs'), 'train', ...args], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
    // wait for the first checkpoint_latest, then kill the process without warning
    const t0 = Date.now();
    while (!fs.existsSync(path.join(fold, 'checkpoint_latest.json'))) {
      if (child.exitCode !== null || Date.now() - t0 > 180_000) throw new Error(`no checkpoint_latest appeared: ${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await exited;
    const killedAt = (await loadCheckpoint(new NodeTrainerFiles(fold), 'latest')).meta.current_epoch;
    expect(killedAt).toBeGreaterThanOrEqual(1);
    expect(fs.existsSync(path.join(fold, 'checkpoint_final.json'))).toBe(false);
    expect(await train([...args, '--resume'])).toBe(0);
    const final = await loadCheckpoint(new NodeTrainerFiles(fold), 'final');
    expect(final.meta.current_epoch).toBe(3);
    expect(final.meta.logging.lrs.length).toBe(3);
    expect(final.meta.optimizer.step).toBe(6);
    const text = fs.readFileSync(path.join(fold, 'training_log.txt'), 'utf8');
    expect(text).toContain(`Resuming from checkpoint_latest at epoch ${killedAt}`);
  }, 240_000);

  it('picks the backend on its own and says which and why on stderr', async () => {
    const lines: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const out = path.join(tmp, 'results_auto');
      const code = await train([dsDir, '-c', '2d', '-f', 'all', '-o', out, '--plans', plansFile, '--epochs', '1', '--iterations', '1', '--val-iterations', '1', '--no-validation']);
      expect(code).toBe(0);
    } finally {
      spy.mockRestore();
    }
    const backendLine = lines.find((l) => l.startsWith('train: backend '));
    expect(backendLine).toBeDefined();
    // this machine: no GPU; WebGPU is SwiftShader (software) or absent → the CPU backend, with the reason
    if (!/backend webgpu \(hardware adapter/.test(backendLine!)) expect(backendLine).toMatch(/^train: backend cpu(-reference)? \(.+\): .+/);
  }, 240_000);
});
