// segstudio predict -i IN -o OUT -m MODEL [-c CONFIGURATION] [--folds 0 1 ..] [--no-tta] [--step 0.5]
//                   [--save-probabilities] [--device cpu|webgpu] [--card FILE] [--threads N] [--memory-budget GB]
// IN: an image file, several channel files of one case, or a folder with nnU-Net naming (CASE_0000.nii.gz …).
// OUT: a file (single case) or a folder (CASE.ext, plus CASE.npz + CASE.json with --save-probabilities).
// MODEL: a bundle folder, a bundle .zip, or an .onnx with a model card (--card, or X.card.json beside X.onnx).
import { SegStudioError } from '../../core/errors.ts';
import { parseArgs, requireFlag, stderrProgress } from '../args.ts';

export const summary = 'predict segmentations with a model bundle (nnU-Net sliding window, TTA, folds) or an ONNX + model card';

const USAGE = `usage: segstudio predict -i IN -o OUT -m MODEL [-c CONFIGURATION] [--folds 0 1 ..] [--no-tta] [--step 0.5]
                         [--save-probabilities] [--device cpu|webgpu] [--card FILE] [--threads N] [--memory-budget GB]
  -i IN          image file(s) of one case (channels in order), or a folder of CASE_XXXX.ext files
  -o OUT         output file (one case) or folder (CASE.ext per case)
  -m MODEL       bundle folder, bundle .zip, or .onnx (needs a model card)
  -c CONFIG      configuration; must match the bundle's (checked)
  --folds K ..   folds to ensemble (default: all in the bundle); also --folds 0,1
  --no-tta       disable mirroring test-time augmentation
  --step S       sliding-window step as a fraction of the patch (default 0.5)
  --save-probabilities   also write CASE.npz ('probabilities' float32 [C, z, y, x]) and CASE.json
  --device D     cpu (default) or webgpu (onnxruntime-node's WebGPU EP)
  --card FILE    model card for a plain .onnx
  --threads N    onnxruntime intra-op threads (default: all cores)
  --memory-budget GB   refuse a case whose estimated peak memory exceeds this (default: from the machine's
                 total and available memory; also SEGSTUDIO_MEMORY_BUDGET_GB)
`;

export async function run(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE);
    return 0;
  }
  const p = parseArgs('predict', argv, [
    { names: ['-i', '--input'], key: 'input', kind: 'multi' },
    { names: ['-o', '--output'], key: 'output', kind: 'string' },
    { names: ['-m', '--model'], key: 'model', kind: 'string' },
    { names: ['-c', '--configuration'], key: 'configuration', kind: 'string' },
    { names: ['-f', '--folds'], key: 'folds', kind: 'multi' },
    { names: ['--no-tta', '--disable_tta'], key: 'noTta', kind: 'boolean' },
    { names: ['--step', '--step_size'], key: 'step', kind: 'number' },
    { names: ['--save-probabilities', '--save_probabilities'], key: 'saveProbabilities', kind: 'boolean' },
    { names: ['--device', '-device'], key: 'device', kind: 'string' },
    { names: ['--card'], key: 'card', kind: 'string' },
    { names: ['--threads'], key: 'threads', kind: 'number' },
    { names: ['--memory-budget'], key: 'memoryBudget', kind: 'number' },
  ]);
  if (p.positional.length) throw new SegStudioError('usage', `predict: unexpected argument '${p.positional[0]}'\n${USAGE}`);
  const inputs = p.flags.input as string[] | undefined;
  if (!inputs?.length) throw new SegStudioError('usage', 'predict: missing required option -i IN');
  const output = requireFlag('predict', p, 'output', '-o OUT');
  const modelPath = requireFlag('predict', p, 'model', '-m MODEL');
  const device = (p.flags.device as string | undefined) ?? 'cpu';
  if (device !== 'cpu' && device !== 'webgpu') throw new SegStudioError('usage', `predict: --device must be cpu or webgpu, got '${device}'`);
  const step = p.flags.step as number | undefined;
  if (step !== undefined && !(step > 0 && step <= 1)) throw new SegStudioError('usage', `predict: --step must be in (0, 1], got ${step}`);
  let folds: number[] | undefined;
  if (p.flags.folds) {
    folds = (p.flags.folds as string[]).flatMap((s) => s.split(',')).filter((s) => s !== '').map((s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 0) throw new SegStudioError('usage', `predict: --folds expects fold numbers, got '${s}'`);
      return n;
    });
  }
  const threads = p.flags.threads as number | undefined;
  const memoryBudgetGb = p.flags.memoryBudget as number | undefined;
  if (memoryBudgetGb !== undefined && !(memoryBudgetGb > 0)) throw new SegStudioError('usage', `predict: --memory-budget must be a positive number of GB, got ${memoryBudgetGb}`);

  // Node-only modules are loaded here so `segstudio --help` stays fast.
  const nodePredict = await import('../../node/predictFiles.ts');
  const model = await nodePredict.loadModelFromPath(modelPath, p.flags.card as string | undefined);
  const configuration = p.flags.configuration as string | undefined;
  if (configuration) {
    if (model.kind === 'bundle' && configuration !== model.configuration) {
      throw new SegStudioError('usage', `bundle holds configuration '${model.configuration}', not '${configuration}'`, modelPath);
    }
    if (model.kind === 'card') throw new SegStudioError('usage', '-c applies to bundles only (a model card has no configurations)', modelPath);
  }
  if (folds && model.kind === 'card') throw new SegStudioError('usage', '--folds applies to bundles only', modelPath);
  const selected = nodePredict.selectFolds(model, folds);
  const fileEnding = model.kind === 'bundle' && typeof model.dataset.file_ending === 'string' ? model.dataset.file_ending : undefined;
  const cases = nodePredict.groupInputs(inputs, fileEnding);
  const t0 = performance.now();
  const runners = await nodePredict.createRunnersForModel(selected, { device, threads });
  const ttaOn = !p.flags.noTta && (selected.kind === 'bundle' ? selected.allowedMirroringAxes?.length !== 0 : Boolean(selected.card.mirror_axes?.length));
  try {
    process.stderr.write(
      `predict: ${cases.length} case${cases.length === 1 ? '' : 's'}, model ${modelPath}` +
        (selected.kind === 'bundle' ? ` (${selected.configuration}, folds ${selected.folds.join(',')})` : ` (${selected.card.name})`) +
        `, ${runners[0].device}, TTA ${ttaOn ? 'on' : 'off'}\n`,
    );
    const { formatBytes } = await import('../../core/inference/memory.ts');
    const flopsPerSecond = await nodePredict.measureModelThroughput(selected, runners[0]);
    const { written } = await nodePredict.predictFiles(cases, selected, runners, {
      output,
      memoryBudgetGb,
      flopsPerSecond,
      onEstimate: (e) => {
        process.stderr.write(
          `predict: estimate ${formatBytes(e.peakBytes)} peak memory (${e.peakPhase}) of a ${formatBytes(e.budgetBytes)} budget, ` +
            `${e.runs} network runs, ~${Math.ceil(e.estimatedSeconds)} s\n`,
        );
      },
      tta: p.flags.noTta ? false : selected.kind === 'bundle' ? true : undefined,
      stepSize: step,
      saveProbabilities: Boolean(p.flags.saveProbabilities),
      onProgressFor: (caseId) => stderrProgress(`predict ${caseId}`),
      onCase: (done, total, caseId, res) => {
        const t = res.timings;
        process.stderr.write(
          `predict: ${caseId} done (${done}/${total}) in ${(t.totalMs / 1000).toFixed(1)} s ` +
            `[preprocess ${(t.preprocessMs / 1000).toFixed(1)} s, network ${(t.networkMs / 1000).toFixed(1)} s over ${res.runs} runs, export ${(t.exportMs / 1000).toFixed(1)} s]\n`,
        );
      },
    });
    process.stderr.write(`predict: wrote ${written.length} segmentation${written.length === 1 ? '' : 's'} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    for (const w of written) process.stdout.write(`${w}\n`);
  } finally {
    await Promise.all(runners.map((r) => r.dispose()));
  }
  return 0;
}
