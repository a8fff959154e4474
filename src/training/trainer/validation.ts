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
  /** receives each prediction (to write CASE<file_ending>) */
  onPrediction?: (c: ValidationCase, labels: LabelMap) => void | Promise<void>;
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
    const r = await predictCase(c.image, bundle, runners, { tta: opts.tta ?? true, signal: opts.signal });
    await opts.onPrediction?.(c, r.labels);
    perCase.push({
      reference_file: c.referenceFile,
      prediction_file: c.predictionFile,
      metrics: computeMetrics(c.reference.data, r.labels.data, labels, info.ignoreLabel, c.predictionFile),
    });
    opts.onProgress?.(i + 1, cases.length, 'validation');
  }
  return summarize(perCase, labels);
}
