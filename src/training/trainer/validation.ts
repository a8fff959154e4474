// The fold's final validation (nnU-Net's perform_actual_validation): every validation case predicted on its
// original grid by the core predictor (sliding window, Gaussian, mirroring) through the exported bundle,
// then compared with its reference label map → summary.json (evaluation/evaluate_predictions.py semantics).
// Pure TypeScript: the CLI passes onnxruntime-node runners, the worker onnxruntime-web ones.
// nnU-Net: training/nnUNetTrainer/nnUNetTrainer.py perform_actual_validation,
// evaluation/evaluate_predictions.py compute_metrics_on_folder.
import { throwIfCancelled } from '../../core/errors.ts';
import { computeMetrics, summarize, type CaseMetrics, type Summary } from '../../core/evaluation/metrics.ts';
import type { ModelBundle } from '../../core/inference/bundle.ts';
import { predictCase } from '../../core/inference/predictor.ts';
import type { NetworkRunner } from '../../core/inference/runner.ts';
import { evaluationLabels, labelInfo } from '../../core/planning/dataset.ts';
import type { CancelSignal, Image, LabelMap, ProgressFn } from '../../core/types.ts';
import { writeSegmentation } from '../../core/io/index.ts';
import { writeNpz } from '../../core/ensembling/npz.ts';
import { summaryToJson } from '../../core/evaluation/metrics.ts';
import { textBytes, type TrainerStorage } from './storage.ts';

export interface ValidationCase {
  id: string;
  image: Image;
  reference: LabelMap;
  /** names written into summary.json */
  referenceFile: string;
  predictionFile: string;
}

export interface ValidationOptions {
  /** mirroring TTA (nnU-Net validation: on) */
  tta?: boolean;
  /** also compute the softmax probabilities on the original grid (nnU-Net's --npz), passed to onPrediction */
  saveProbabilities?: boolean;
  /** receives each prediction (to write CASE<file_ending>, and CASE.npz with saveProbabilities) */
  onPrediction?: (c: ValidationCase, labels: LabelMap, probabilities?: { data: Float32Array; shape: number[]; classNames: string[] }) => void | Promise<void>;
  onProgress?: ProgressFn;
  signal?: CancelSignal;
}

export async function validateFold(bundle: ModelBundle, runners: NetworkRunner[], cases: ValidationCase[], opts: ValidationOptions = {}): Promise<Summary> {
  const info = labelInfo(bundle.dataset);
  const labels = evaluationLabels(info);
  const perCase: CaseMetrics[] = [];
  for (let i = 0; i < cases.length; i++) {
    throwIfCancelled(opts.signal);
    const c = cases[i];
    const r = await predictCase(c.image, bundle, runners, { tta: opts.tta ?? true, signal: opts.signal, saveProbabilities: opts.saveProbabilities });
    await opts.onPrediction?.(
      c,
      r.labels,
      r.probabilities && r.probabilitiesShape ? { data: r.probabilities, shape: r.probabilitiesShape, classNames: r.classNames } : undefined,
    );
    perCase.push({
      reference_file: c.referenceFile,
      prediction_file: c.predictionFile,
      metrics: computeMetrics(c.reference.data, r.labels.data, labels, info.ignoreLabel, c.predictionFile),
    });
    opts.onProgress?.(i + 1, cases.length, 'validation');
  }
  return summarize(perCase, labels);
}

/**
 * The fold's validation as nnU-Net leaves it in fold_N/validation/ (perform_actual_validation with --npz):
 * CASE<file_ending> (segmentation on the original grid), CASE.npz (`probabilities` float32 [C, ...spatial],
 * the softmax on the original grid), CASE.json (class names, shape) and summary.json, written into `out`
 * (a Node folder, or OPFS/IndexedDB in the browser). Pairwise ensembles in find-best reuse the .npz files.
 * `ValidationCase.predictionFile` is ignored here: files are named `<id><fileEnding>` inside `out`.
 */
export async function writeFoldValidation(
  bundle: ModelBundle,
  runners: NetworkRunner[],
  cases: ValidationCase[],
  out: TrainerStorage,
  opts: ValidationOptions & { fileEnding: string },
): Promise<Summary> {
  const named = cases.map((c) => ({ ...c, predictionFile: `${out.location}/${c.id}${opts.fileEnding}` }));
  const summary = await validateFold(bundle, runners, named, {
    ...opts,
    saveProbabilities: opts.saveProbabilities ?? true,
    onPrediction: async (c, labels, probs) => {
      const name = c.id + opts.fileEnding;
      await out.write(name, writeSegmentation(labels, c.image.properties, name));
      if (probs) {
        await out.write(`${c.id}.npz`, writeNpz({ probabilities: { data: probs.data, shape: probs.shape } }, 1));
        await out.write(
          `${c.id}.json`,
          textBytes(JSON.stringify({ class_names: probs.classNames, probabilities_shape: probs.shape, spacing: c.image.properties.spacing }, null, 1) + '\n'),
        );
      }
      await opts.onPrediction?.(c, labels, probs);
    },
  });
  await out.write('summary.json', textBytes(summaryToJson(summary)));
  return summary;
}
