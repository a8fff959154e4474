// `segstudio plan DATASET_DIR -o OUT_DIR`: nnUNetv2_plan_and_preprocess's planning half — dataset fingerprint
// (dataset_fingerprint.json) and experiment plans (nnUNetPlans.json), plus dataset.json copied beside them and the
// 5-fold splits_final.json nnU-Net would create for this case list (or the raw dataset's own splits_final.json).
// nnU-Net: experiment_planning/plan_and_preprocess_api.py (extract_fingerprints, plan_experiments).
import fs from 'node:fs';
import path from 'node:path';
import { SegStudioError } from '../../core/errors.ts';
import { readImageFile } from '../../core/io/index.ts';
import { pyJsonParse } from '../../core/evaluation/pyjson.ts';
import { NUM_FOREGROUND_VOXELS_FOR_INTENSITY_STATS } from '../../core/planning/fingerprint.ts';
import { planRawDataset } from '../../core/planning/planDataset.ts';
import { memoryTargetFromAdapterLimits } from '../../core/planning/planner.ts';
import { explainConfiguration, explainFingerprint } from '../../core/planning/explain.ts';
import type { Plans } from '../../core/planning/plans.ts';
import { nodeDatasetFiles } from '../../node/fsDataset.ts';
import { parseArgs, requireFlag, stderrProgress } from '../args.ts';

export const summary = 'fingerprint a raw dataset and write nnU-Net plans (dataset_fingerprint.json, nnUNetPlans.json)';

const USAGE = `usage: segstudio plan DATASET_DIR -o OUT_DIR [--gpu-memory GB] [--plans-name NAME] [--samples N]
  DATASET_DIR   nnU-Net raw dataset (dataset.json, imagesTr/, labelsTr/)
  -o OUT_DIR    where dataset_fingerprint.json, nnUNetPlans.json, dataset.json and splits_final.json go
  --gpu-memory  GPU memory target in GB (default 8, nnU-Net's reference), or 'adapter': derived from this
                machine's WebGPU adapter limits
  --plans-name  plans identifier (default nnUNetPlans)
  --samples     total foreground intensity samples (default 1e8, as nnU-Net)
  --overwrite-target-spacing Z Y X   3d_fullres target spacing (array order, before transposition)
`;

export async function run(args: string[]): Promise<number> {
  const p = parseArgs('plan', args, [
    { names: ['-o', '--out'], key: 'out', kind: 'string' },
    { names: ['--gpu-memory'], key: 'gpu', kind: 'string' },
    { names: ['--plans-name'], key: 'plansName', kind: 'string' },
    { names: ['--samples'], key: 'samples', kind: 'number' },
    { names: ['--overwrite-target-spacing'], key: 'spacing', kind: 'multi' },
    { names: ['-h', '--help'], key: 'help', kind: 'boolean' },
  ]);
  if (p.flags.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (p.positional.length !== 1) throw new SegStudioError('usage', `plan: expected one DATASET_DIR\n${USAGE}`);
  const datasetDir = path.resolve(p.positional[0]);
  const outDir = path.resolve(requireFlag('plan', p, 'out', '-o OUT_DIR'));
  if (!fs.existsSync(datasetDir) || !fs.statSync(datasetDir).isDirectory())
    throw new SegStudioError('folder', 'dataset folder not found', p.positional[0]);
  const gpuFlag = (p.flags.gpu as string | undefined) ?? '8';
  let gpu: number;
  if (gpuFlag === 'adapter') {
    // the memory target from this machine's WebGPU adapter limits (documented formula, docs/planning.md)
    const { getNodeGpuDevice } = await import('../../node/webgpuDevice.ts');
    const { device } = await getNodeGpuDevice();
    gpu = memoryTargetFromAdapterLimits(device.limits);
    process.stderr.write(
      `plan: GPU memory target ${+gpu.toFixed(3)} GB from the adapter (maxStorageBufferBindingSize ${device.limits.maxStorageBufferBindingSize}, maxBufferSize ${device.limits.maxBufferSize})\n`,
    );
  } else {
    gpu = Number(gpuFlag);
    if (!(gpu > 0)) throw new SegStudioError('usage', `plan: --gpu-memory expects a number of GB or 'adapter', got '${gpuFlag}'`);
  }
  const ow = p.flags.spacing as string[] | undefined;
  const overwriteTargetSpacing = ow?.map(Number);
  if (overwriteTargetSpacing && (overwriteTargetSpacing.length !== 3 || !overwriteTargetSpacing.every((v) => v > 0)))
    throw new SegStudioError('usage', `plan: --overwrite-target-spacing needs three positive numbers (z y x), got ${ow!.join(' ')}`);
  const samples = (p.flags.samples as number | undefined) ?? NUM_FOREGROUND_VOXELS_FOR_INTENSITY_STATS;
  if (!(samples >= 1)) throw new SegStudioError('usage', `plan: --samples must be >= 1, got ${samples}`);

  const plansName = (p.flags.plansName as string | undefined) ?? 'nnUNetPlans';
  // like nnU-Net's save_plans: configurations of an existing plans file that are not re-planned are kept
  const plansFile = path.join(outDir, `${plansName}.json`);
  let existingPlans: Plans | null = null;
  if (fs.existsSync(plansFile)) {
    try {
      existingPlans = pyJsonParse<Plans>(fs.readFileSync(plansFile, 'utf8'));
    } catch (e) {
      throw new SegStudioError('plans', `existing plans file is not valid JSON: ${(e as Error).message}`, plansFile);
    }
  }
  const planned = await planRawDataset(nodeDatasetFiles(datasetDir), '', {
    readImage: readImageFile,
    numForegroundVoxels: samples,
    onProgress: stderrProgress('fingerprint'),
    gpuMemoryTargetGB: gpu,
    datasetName: path.basename(datasetDir),
    plansName,
    overwriteTargetSpacing,
    existingPlans,
  });
  const plans = planned.plans;
  fs.mkdirSync(outDir, { recursive: true });
  const write = (name: string, text: string) => {
    const f = path.join(outDir, name);
    try {
      fs.writeFileSync(f, text);
    } catch (e) {
      throw new SegStudioError('write', `cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, f);
    }
  };
  write('dataset_fingerprint.json', planned.fingerprintJson);
  write(`${plansName}.json`, planned.plansJson);
  fs.copyFileSync(path.join(datasetDir, 'dataset.json'), path.join(outDir, 'dataset.json'));
  // splits: a splits_final.json in the raw dataset wins (nnU-Net copies it), an existing one in OUT_DIR is kept,
  // otherwise nnU-Net's default 5-fold split of the sorted case ids
  const rawSplits = path.join(datasetDir, 'splits_final.json');
  const outSplits = path.join(outDir, 'splits_final.json');
  if (fs.existsSync(rawSplits)) fs.copyFileSync(rawSplits, outSplits);
  else if (!fs.existsSync(outSplits) && planned.splitsJson) write('splits_final.json', planned.splitsJson);
  process.stderr.write(`plan: ${explainFingerprint(planned.fingerprint)}\n`);
  for (const name of Object.keys(plans.configurations)) process.stderr.write(`plan: ${explainConfiguration(plans, name)}\n`);
  process.stderr.write(`plan: wrote ${outDir}\n`);
  return 0;
}
