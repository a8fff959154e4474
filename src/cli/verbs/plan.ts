// `segstudio plan DATASET_DIR -o OUT_DIR`: nnUNetv2_plan_and_preprocess's planning half — dataset fingerprint
// (dataset_fingerprint.json) and experiment plans (nnUNetPlans.json), plus dataset.json copied beside them and the
// 5-fold splits_final.json nnU-Net would create for this case list.
// nnU-Net: experiment_planning/plan_and_preprocess_api.py (extract_fingerprints, plan_experiments).
import fs from 'node:fs';
import path from 'node:path';
import { SegStudioError } from '../../core/errors.ts';
import { readImageFile } from '../../core/io/index.ts';
import { pyJsonDumps } from '../../core/evaluation/pyjson.ts';
import { fingerprintRawDataset, fingerprintToJson, NUM_FOREGROUND_VOXELS_FOR_INTENSITY_STATS } from '../../core/planning/fingerprint.ts';
import { planExperiment, plansToJson } from '../../core/planning/planner.ts';
import { generateCrossvalSplit } from '../../training/data/splits.ts';
import { nodeDatasetFiles } from '../../node/fsDataset.ts';
import { parseArgs, requireFlag, stderrProgress } from '../args.ts';

export const summary = 'fingerprint a raw dataset and write nnU-Net plans (dataset_fingerprint.json, nnUNetPlans.json)';

const USAGE = `usage: segstudio plan DATASET_DIR -o OUT_DIR [--gpu-memory GB] [--plans-name NAME] [--samples N]
  DATASET_DIR   nnU-Net raw dataset (dataset.json, imagesTr/, labelsTr/)
  -o OUT_DIR    where dataset_fingerprint.json, nnUNetPlans.json, dataset.json and splits_final.json go
  --gpu-memory  GPU memory target in GB for the plans (default 8, nnU-Net's reference)
  --plans-name  plans identifier (default nnUNetPlans)
  --samples     total foreground intensity samples (default 1e8, as nnU-Net)
`;

export async function run(args: string[]): Promise<number> {
  const p = parseArgs('plan', args, [
    { names: ['-o', '--out'], key: 'out', kind: 'string' },
    { names: ['--gpu-memory'], key: 'gpu', kind: 'number' },
    { names: ['--plans-name'], key: 'plansName', kind: 'string' },
    { names: ['--samples'], key: 'samples', kind: 'number' },
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
  const gpu = (p.flags.gpu as number | undefined) ?? 8;
  const samples = (p.flags.samples as number | undefined) ?? NUM_FOREGROUND_VOXELS_FOR_INTENSITY_STATS;
  if (!(samples >= 1)) throw new SegStudioError('usage', `plan: --samples must be >= 1, got ${samples}`);

  const files = nodeDatasetFiles(datasetDir);
  const { fingerprint, datasetJson, caseIds } = await fingerprintRawDataset(files, '', {
    readImage: readImageFile,
    numForegroundVoxels: samples,
    onProgress: stderrProgress('fingerprint'),
  });
  const datasetName = path.basename(datasetDir);
  const plans = planExperiment(fingerprint, datasetJson, {
    gpuMemoryTargetGB: gpu,
    datasetName,
    plansName: (p.flags.plansName as string | undefined) ?? 'nnUNetPlans',
  });
  fs.mkdirSync(outDir, { recursive: true });
  const write = (name: string, text: string) => {
    const f = path.join(outDir, name);
    try {
      fs.writeFileSync(f, text);
    } catch (e) {
      throw new SegStudioError('write', `cannot write: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, f);
    }
  };
  write('dataset_fingerprint.json', fingerprintToJson(fingerprint, { integerSpacings: plans.image_reader_writer === 'NaturalImage2DIO' }));
  write(`${plans.plans_name}.json`, plansToJson(plans));
  fs.copyFileSync(path.join(datasetDir, 'dataset.json'), path.join(outDir, 'dataset.json'));
  if (caseIds.length >= 5) write('splits_final.json', pyJsonDumps(generateCrossvalSplit(caseIds)));
  for (const [name, c] of Object.entries(plans.configurations)) {
    if (!c.patch_size) continue;
    process.stderr.write(`plan: ${name}: patch ${c.patch_size.join('x')}, batch ${c.batch_size}, spacing ${c.spacing.map((s) => +s.toFixed(4)).join('x')}\n`);
  }
  process.stderr.write(`plan: wrote ${outDir}\n`);
  return 0;
}
