// The nnU-Net training loop (nnUNetTrainer semantics) over the training engine: epochs × iterations, poly LR
// per epoch, deep-supervision DC_and_CE loss, validation loss + pseudo Dice with EMA, checkpoints best /
// latest / final, pause / stop / resume between iterations, progress events for a live chart.
// Pure TypeScript (no DOM, no Node APIs): the backend, the storage and the clock are injected, so the same
// loop runs in the browser's training worker and in `segstudio train`.
// nnU-Net: training/nnUNetTrainer/nnUNetTrainer.py (run_training, on_train_epoch_start, train_step,
// validation_step, on_validation_epoch_end, on_epoch_end, on_train_end, save_checkpoint),
// training/logging/nnunet_logger.py, run/run_training.py (continue: final → latest → best).
import { SegStudioError } from '../../core/errors.ts';
import { labelInfo, type LabelInfo } from '../../core/planning/dataset.ts';
import { resolveConfiguration, type ConfigurationPlans, type Plans } from '../../core/planning/plans.ts';
import type { Backend } from '../engine/backend.ts';
import { Graph } from '../engine/autograd.ts';
import { augmentSample, configureAugmentation, type AugmentationSetup } from '../data/augment.ts';
import { deepSupervisionWeights, type DiceCeOptions } from '../nn/loss.ts';
import { SGD, polyLR } from '../nn/optimizer.ts';
import { PlainConvUNet, unetConfigFromPlans, type UNetConfig } from '../nn/plainConvUNet.ts';
import { deepSupervisionTargets, trainStep } from '../nn/trainStep.ts';
import {
  checkpointFiles,
  loadCheckpoint,
  newestCheckpoint,
  removeCheckpoint,
  saveCheckpoint,
  stringifyWithNaN,
  type CheckpointData,
  type CheckpointName,
} from './checkpoint.ts';
import { emptyLog, logTimestamp, nextEma, progressSvg, round, type TrainingLogData } from './log.ts';
import { accumulateHardCounts, globalDice, nanmean, zeroCounts } from './pseudoDice.ts';
import {
  makeNnUNetBatchSource,
  type BatchSourceOptions,
  type TrainerBatch,
  type TrainerCase,
} from '../data/batchSource.ts';
import { bytesText, textBytes, type TrainerStorage } from './storage.ts';

/** A preprocessed case (PreprocessedCase data/shape/seg plus its identifier). */
export type TrainingCase = TrainerCase;

/** Where batches come from (src/training/data/batchSource.ts: nnU-Net's data loader + augmentation). */
export interface BatchSource {
  next(): TrainerBatch;
  /** RNG state for checkpoints (JSON-able) */
  getState(): unknown;
  setState(s: unknown): void;
}

export interface TrainerOptions {
  /** nnU-Net: 1000 */
  numEpochs: number;
  /** nnU-Net: 250 */
  iterationsPerEpoch: number;
  /** nnU-Net: 50 */
  valIterationsPerEpoch: number;
  /** nnU-Net: 1e-2 */
  initialLr: number;
  weightDecay: number;
  momentum: number;
  /** nnU-Net: 0.33 */
  oversampleForeground: number;
  /**
   * checkpoint_latest every N epochs. nnU-Net uses 50; the default here is 1 so that a killed tab or process
   * loses at most the current epoch.
   */
  saveEvery: number;
  /** seeds network init and the patch samplers (nnU-Net is unseeded; a seed makes runs reproducible) */
  seed: number;
  /** deep supervision (nnU-Net: on) */
  deepSupervision: boolean;
  /** nnU-Net's training augmentation (src/training/data/augment.ts); off only for experiments and tiny tests */
  augmentation: boolean;
}

export const DEFAULT_TRAINER_OPTIONS: TrainerOptions = {
  numEpochs: 1000,
  iterationsPerEpoch: 250,
  valIterationsPerEpoch: 50,
  initialLr: 1e-2,
  weightDecay: 3e-5,
  momentum: 0.99,
  oversampleForeground: 0.33,
  saveEvery: 1,
  seed: 12345,
  deepSupervision: true,
  augmentation: true,
};

export interface EpochMetrics {
  epoch: number;
  trainLoss: number;
  valLoss: number;
  /** pseudo Dice per foreground class */
  pseudoDice: number[];
  meanFgDice: number;
  emaFgDice: number;
  lr: number;
  epochTimeSec: number;
  newBest: boolean;
}

export type TrainerState = 'idle' | 'running' | 'paused' | 'stopped' | 'finished' | 'failed';

export type TrainerEvent =
  | { type: 'state'; state: TrainerState; epoch: number }
  | { type: 'epoch-start'; epoch: number; lr: number }
  | { type: 'iteration'; phase: 'train' | 'val'; epoch: number; iteration: number; of: number; loss: number }
  | { type: 'epoch-end'; metrics: EpochMetrics }
  | { type: 'checkpoint'; name: CheckpointName; epoch: number }
  | { type: 'log'; line: string }
  /**
   * the run failed (state 'failed' follows): `code` is the SegStudioError code ('gpu-device-lost' when the
   * WebGPU device was lost), `resumeFrom` the checkpoint a resume continues from (null: starts over)
   */
  | { type: 'error'; code: string; message: string; epoch: number; resumeFrom: CheckpointName | null };

/** The dataset.json parts the trainer needs. */
export interface TrainerDatasetJson {
  channel_names: Record<string, string>;
  labels: Record<string, number | number[]>;
  regions_class_order?: number[];
  [k: string]: unknown;
}

export interface TrainerSetup {
  backend: Backend;
  plans: Plans;
  configuration: string;
  dataset: TrainerDatasetJson;
  fold: number | 'all';
  /** preprocessed training cases of this fold */
  trainCases: TrainingCase[];
  /** preprocessed validation cases of this fold (fold 'all': the training cases, as nnU-Net) */
  valCases: TrainingCase[];
  storage: TrainerStorage;
  options?: Partial<TrainerOptions>;
  /** ms since 1970 (Date.now by default); inject for reproducible logs */
  clock?: () => number;
  onEvent?: (e: TrainerEvent) => void;
  /** replaces the built-in sampler (the data engineer's sampler + augmentation plug in here) */
  makeBatchSource?: (cases: TrainingCase[], opts: BatchSourceOptions, seed: number, phase: 'train' | 'val') => BatchSource;
  trainerName?: string;
}

export interface TrainerResult {
  status: 'finished' | 'stopped';
  /** next epoch to run */
  epoch: number;
  log: TrainingLogData;
  bestEma: number | null;
}

export class Trainer {
  readonly options: TrainerOptions;
  readonly network: PlainConvUNet;
  readonly optimizer: SGD;
  readonly networkConfig: UNetConfig;
  readonly config: ConfigurationPlans;
  readonly labels: LabelInfo;
  readonly patchSize: number[];
  readonly batchSize: number;
  readonly trainerName: string;
  /** rotation / dummy-2D / mirror axes for this patch size (nnU-Net: configure_rotation_dummyDA_mirroring_and_inital_patch_size) */
  readonly augmentationSetup: AugmentationSetup;
  private log: TrainingLogData = emptyLog();
  private bestEma: number | null = null;
  private epoch = 0;
  private logText = '';
  private trainSource: BatchSource;
  private valSource: BatchSource;
  private stateValue: TrainerState = 'idle';
  private pauseRequested = false;
  private stopRequested = false;
  private wake: (() => void) | null = null;
  /** true once an epoch was left half-done (stop mid-epoch): the in-memory state is no longer a checkpoint's */
  private dirty = false;
  private readonly clock: () => number;
  private readonly lossOpts: DiceCeOptions;
  /** set when the backend's GPUDevice reports loss (device.lost) */
  private deviceLost: string | null = null;
  private readonly deviceLostPromise: Promise<void> | null = null;

  private constructor(private readonly setup: TrainerSetup) {
    const o = (this.options = { ...DEFAULT_TRAINER_OPTIONS, ...(setup.options ?? {}) });
    for (const k of ['numEpochs', 'iterationsPerEpoch', 'valIterationsPerEpoch', 'saveEvery'] as const)
      if (!Number.isInteger(o[k]) || o[k] < (k === 'valIterationsPerEpoch' ? 0 : 1))
        throw new SegStudioError('training', `${k} must be a positive integer, got ${o[k]}`);
    this.clock = setup.clock ?? (() => Date.now());
    this.trainerName = setup.trainerName ?? 'nnUNetTrainer';
    try {
      this.config = resolveConfiguration(setup.plans, setup.configuration);
    } catch (e) {
      throw new SegStudioError('plans', (e as Error).message, 'plans.json');
    }
    this.labels = labelInfo(setup.dataset);
    if (this.labels.hasRegions) throw new SegStudioError('training', 'region-based training is not supported yet (labels are regions)', 'dataset.json');
    const nCh = Object.keys(setup.dataset.channel_names).length;
    this.networkConfig = unetConfigFromPlans(this.config, nCh, this.labels.numSegmentationHeads, o.deepSupervision);
    this.patchSize = [...this.config.patch_size];
    this.batchSize = this.config.batch_size;
    if (!(this.batchSize >= 1)) throw new SegStudioError('plans', `batch_size must be ≥ 1, got ${this.batchSize}`, 'plans.json');
    const nd = this.networkConfig.kernelSizes[0].length;
    if (this.patchSize.length !== nd)
      throw new SegStudioError('plans', `patch_size [${this.patchSize}] does not fit ${nd}-D kernels`, 'plans.json');
    // WebGPU: watch the device (GPUDevice.lost resolves on device.destroy(), a driver reset, a removed GPU)
    const lost = (setup.backend as { device?: { lost?: Promise<{ reason?: string; message?: string }> } }).device?.lost;
    if (lost && typeof lost.then === 'function')
      this.deviceLostPromise = lost.then((info) => {
        this.deviceLost = [info?.reason, info?.message].filter(Boolean).join(': ') || 'unknown reason';
      });
    this.network = new PlainConvUNet(setup.backend, this.networkConfig, o.seed);
    const ts = this.network.totalStride;
    if (this.patchSize.some((p, i) => p % ts[i] !== 0))
      throw new SegStudioError('plans', `patch_size [${this.patchSize}] is not divisible by the network's total stride [${ts}]`, 'plans.json');
    this.optimizer = new SGD(setup.backend, this.network.params, { lr: o.initialLr, momentum: o.momentum, weightDecay: o.weightDecay, nesterov: true });
    for (const c of [...setup.trainCases, ...setup.valCases])
      if (c.shape[0] !== nCh) throw new SegStudioError('training', `case has ${c.shape[0]} channels, dataset.json declares ${nCh}`, c.id);
    if (setup.trainCases.length === 0) throw new SegStudioError('training', 'no training cases in this fold');
    this.lossOpts = { batchDice: Boolean(this.config.batch_dice), ignoreLabel: this.labels.ignoreLabel };
    const sOpts: BatchSourceOptions = {
      batchSize: this.batchSize,
      patchSize: this.patchSize,
      oversampleForeground: o.oversampleForeground,
      foregroundLabels: this.labels.foregroundLabels,
      useMaskForNorm: this.config.use_mask_for_norm,
    };
    this.augmentationSetup = configureAugmentation(this.patchSize);
    const aug = this.augmentationSetup;
    const trainOpts: BatchSourceOptions = o.augmentation
      ? {
          ...sOpts,
          initialPatchSize: aug.initialPatchSize,
          augment: (smp, rng) =>
            augmentSample(smp, rng, { patchSize: this.patchSize, setup: aug, useMaskForNorm: this.config.use_mask_for_norm }).sample,
        }
      : sOpts;
    const make = setup.makeBatchSource ?? ((cases, so, seed) => makeNnUNetBatchSource(cases, so, seed));
    this.trainSource = make(setup.trainCases, trainOpts, o.seed + 1, 'train');
    this.valSource = make(setup.valCases.length ? setup.valCases : setup.trainCases, sOpts, o.seed + 1001, 'val');
  }

  /** Builds the network (He init from options.seed), the optimizer and the samplers. */
  static async create(setup: TrainerSetup): Promise<Trainer> {
    return new Trainer(setup);
  }

  get state(): TrainerState {
    return this.stateValue;
  }
  /** the next epoch to run */
  get currentEpoch(): number {
    return this.epoch;
  }
  get trainingLog(): TrainingLogData {
    return this.log;
  }
  get bestEmaFgDice(): number | null {
    return this.bestEma;
  }
  get storage(): TrainerStorage {
    return this.setup.storage;
  }

  private emit(e: TrainerEvent): void {
    this.setup.onEvent?.(e);
  }

  private setState(s: TrainerState): void {
    this.stateValue = s;
    this.emit({ type: 'state', state: s, epoch: this.epoch });
  }

  /** nnU-Net print_to_log_file: timestamped line into training_log.txt (written at every epoch end). */
  private print(...parts: unknown[]): void {
    const line = parts.map((p) => (typeof p === 'string' ? p : JSON.stringify(p))).join(' ');
    this.logText += `${logTimestamp(this.clock())}: ${line}\n`;
    this.emit({ type: 'log', line });
  }

  // ---- control (cooperative: takes effect between iterations) ----------------------------------------------

  pause(): void {
    if (this.stateValue === 'running') this.pauseRequested = true;
  }
  resume(): void {
    this.pauseRequested = false;
    this.wake?.();
  }
  /** Stops at the next iteration boundary; the last checkpoint_latest is what a later resume continues from. */
  stop(): void {
    this.stopRequested = true;
    this.wake?.();
  }

  private async checkpointControl(): Promise<boolean> {
    if (this.pauseRequested && !this.stopRequested) {
      this.setState('paused');
      await new Promise<void>((res) => (this.wake = res));
      this.wake = null;
      if (!this.stopRequested) this.setState('running');
    }
    return this.stopRequested;
  }

  // ---- checkpoints ---------------------------------------------------------------------------------------

  async checkpointData(): Promise<CheckpointData> {
    const o = this.options;
    const opt = await this.optimizer.getState();
    return {
      meta: {
        format: 'segstudio-checkpoint/1',
        trainer_name: this.trainerName,
        dataset_name: this.setup.plans.dataset_name,
        plans_name: this.setup.plans.plans_name,
        configuration: this.setup.configuration,
        fold: this.setup.fold,
        current_epoch: this.epoch,
        init_args: { ...o },
        network: { ...this.networkConfig, deepSupervision: o.deepSupervision },
        patch_size: [...this.patchSize],
        batch_size: this.batchSize,
        logging: this.log,
        _best_ema: this.bestEma,
        optimizer: { initial_lr: o.initialLr, momentum: o.momentum, weight_decay: o.weightDecay, nesterov: true, step: opt.step },
        rng: { train: this.trainSource.getState(), val: this.valSource.getState() },
        // nnU-Net: inference_allowed_mirroring_axes = the training mirror axes
        inference_allowed_mirroring_axes: [...this.augmentationSetup.mirrorAxes],
        backend: this.setup.backend.name,
        saved_at: this.clock(),
      },
      weights: await this.network.getStateDict(),
      momentum: opt.momentum,
    };
  }

  async saveCheckpoint(name: CheckpointName): Promise<void> {
    await saveCheckpoint(this.setup.storage, name, await this.checkpointData());
    this.emit({ type: 'checkpoint', name, epoch: this.epoch - 1 });
  }

  /** Loads a checkpoint's full state (weights, momentum, log, epoch, RNG) into this trainer. */
  async loadCheckpoint(data: CheckpointData, fileName = 'checkpoint'): Promise<void> {
    const m = data.meta;
    if (m.configuration !== this.setup.configuration)
      throw new SegStudioError('checkpoint', `was trained with configuration '${m.configuration}', not '${this.setup.configuration}'`, fileName);
    this.network.loadStateDict(data.weights, fileName);
    this.optimizer.loadState({ step: m.optimizer.step, momentum: data.momentum }, fileName);
    this.log = m.logging;
    this.bestEma = m._best_ema;
    this.epoch = m.current_epoch;
    if (m.rng?.train) this.trainSource.setState(m.rng.train);
    if (m.rng?.val) this.valSource.setState(m.rng.val);
    this.dirty = false;
    if (this.stateValue === 'stopped') this.stateValue = 'idle';
    this.stopRequested = false;
  }

  /**
   * Continues from the newest checkpoint in storage (final, else latest, else best; nnU-Net's --c). Returns
   * the checkpoint used, or null when there is none (training then starts from epoch 0).
   */
  async restore(which: CheckpointName | 'auto' = 'auto'): Promise<CheckpointName | null> {
    const name = which === 'auto' ? await newestCheckpoint(this.setup.storage) : which;
    if (!name) return null;
    const data = await loadCheckpoint(this.setup.storage, name);
    await this.loadCheckpoint(data, `${this.setup.storage.location}/${checkpointFiles(name).json}`);
    if (await this.setup.storage.exists('training_log.txt')) this.logText = bytesText(await this.setup.storage.read('training_log.txt'));
    this.print(`Resuming from checkpoint_${name} at epoch ${this.epoch}`);
    return name;
  }

  // ---- the loop --------------------------------------------------------------------------------------------

  private debugInfo(): Record<string, unknown> {
    return {
      trainer_name: this.trainerName,
      backend: this.setup.backend.name,
      dataset_name: this.setup.plans.dataset_name,
      plans_name: this.setup.plans.plans_name,
      configuration: this.setup.configuration,
      fold: this.setup.fold,
      options: this.options,
      batch_size: this.batchSize,
      patch_size: this.patchSize,
      augmentation: this.options.augmentation ? this.augmentationSetup : null,
      network: this.networkConfig,
      num_parameters: this.network.params.reduce((a, p) => a + p.value.size, 0),
      loss: { ...this.lossOpts, deep_supervision_weights: this.options.deepSupervision ? deepSupervisionWeights(this.networkConfig.nStages - 1) : [1] },
      train_cases: this.setup.trainCases.map((c) => c.id),
      val_cases: this.setup.valCases.map((c) => c.id),
    };
  }

  private async writeProgressFiles(): Promise<void> {
    const s = this.setup.storage;
    await s.write('training_log.txt', textBytes(this.logText));
    const title = `${this.setup.plans.dataset_name} ${this.setup.configuration} fold ${this.setup.fold}`;
    await s.write('progress.svg', textBytes(progressSvg(this.log, title)));
  }

  private async trainIteration(it: number): Promise<number> {
    const B = this.setup.backend;
    const batch = this.trainSource.next();
    const x = B.upload(batch.data, batch.shape);
    const t = B.upload(batch.target, batch.targetShape);
    try {
      const lr = this.log.lrs[this.log.lrs.length - 1];
      const r = await trainStep(this.network, this.optimizer, x, t, this.lossOpts, lr);
      this.emit({ type: 'iteration', phase: 'train', epoch: this.epoch, iteration: it, of: this.options.iterationsPerEpoch, loss: r.loss });
      return r.loss;
    } finally {
      B.free(x);
      B.free(t);
    }
  }

  /** validation_step: deep-supervision loss (no gradients) and hard tp/fp/fn of the full-resolution output. */
  private async valIteration(it: number, counts: ReturnType<typeof zeroCounts>): Promise<number> {
    const B = this.setup.backend;
    const batch = this.valSource.next();
    const x = B.upload(batch.data, batch.shape);
    const t = B.upload(batch.target, batch.targetShape);
    const g = new Graph(B, { grad: false });
    let targets: ReturnType<typeof deepSupervisionTargets> = [];
    try {
      const outs = this.network.forward(g, g.input(x));
      const w = this.options.deepSupervision ? deepSupervisionWeights(outs.length) : [1];
      targets = deepSupervisionTargets(this.network, t, outs.map((o) => o.shape.slice(2) as number[]));
      let loss = 0;
      for (let i = 0; i < outs.length; i++) if (w[i] !== 0) loss += (await g.segLoss(outs[i], targets[i], this.lossOpts, w[i])).loss;
      const logits = await B.download(outs[0].value);
      accumulateHardCounts(counts, logits, batch.target, batch.shape[0], this.networkConfig.numClasses, this.labels.ignoreLabel);
      this.emit({ type: 'iteration', phase: 'val', epoch: this.epoch, iteration: it, of: this.options.valIterationsPerEpoch, loss });
      return loss;
    } finally {
      for (const tt of targets) if (tt !== t) B.free(tt);
      g.dispose();
      B.free(x);
      B.free(t);
    }
  }

  /**
   * Runs epochs from the current one to numEpochs. Resolves 'stopped' when stop() was called (the state then
   * matches the last checkpoint only if the stop came between epochs), 'finished' after checkpoint_final.
   */
  async run(): Promise<TrainerResult> {
    if (this.stateValue === 'running' || this.stateValue === 'paused') throw new SegStudioError('training', 'the trainer is already running');
    if (this.dirty) throw new SegStudioError('training', 'this run was stopped mid-epoch: restore a checkpoint (restore()) before running again');
    const o = this.options;
    const s = this.setup.storage;
    this.stopRequested = false;
    this.pauseRequested = false;
    this.setState('running');
    try {
      await s.write('debug.json', textBytes(stringifyWithNaN(this.debugInfo(), 4) + '\n'));
      if (this.epoch === 0 && this.log.lrs.length === 0) {
        this.print(`Training ${this.trainerName} ${this.setup.configuration} fold ${this.setup.fold} on ${this.setup.backend.name}: ` +
          `${o.numEpochs} epochs × ${o.iterationsPerEpoch} iterations, batch ${this.batchSize}, patch [${this.patchSize}]`);
      }
      while (this.epoch < o.numEpochs) {
        if (this.stopRequested) return this.finishStopped();
        const epoch = this.epoch;
        // on_epoch_start / on_train_epoch_start
        const tStart = this.clock();
        this.log.epoch_start_timestamps.push(tStart / 1000);
        const lr = polyLR(o.initialLr, epoch, o.numEpochs);
        this.log.lrs.push(lr);
        this.print('');
        this.print(`Epoch ${epoch}`);
        this.print(`Current learning rate: ${round(lr, 5)}`);
        this.emit({ type: 'epoch-start', epoch, lr });
        const trainLosses: number[] = [];
        for (let it = 0; it < o.iterationsPerEpoch; it++) {
          if (await this.checkpointControl()) return this.abandonEpoch();
          trainLosses.push(await this.trainIteration(it));
        }
        const valLosses: number[] = [];
        const counts = zeroCounts(this.networkConfig.numClasses);
        for (let it = 0; it < o.valIterationsPerEpoch; it++) {
          if (await this.checkpointControl()) return this.abandonEpoch();
          valLosses.push(await this.valIteration(it, counts));
        }
        // on_train_epoch_end / on_validation_epoch_end
        const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);
        const dice = globalDice(counts);
        const meanFg = nanmean(dice);
        this.log.train_losses.push(mean(trainLosses));
        this.log.val_losses.push(mean(valLosses));
        this.log.dice_per_class_or_region.push(dice);
        const ema = nextEma(this.log, meanFg);
        this.log.mean_fg_dice.push(meanFg);
        this.log.ema_fg_dice.push(ema);
        // on_epoch_end
        const tEnd = this.clock();
        this.log.epoch_end_timestamps.push(tEnd / 1000);
        const epochTime = (tEnd - tStart) / 1000;
        this.log.epoch_times_sec.push(epochTime);
        this.print('train_loss', round(this.log.train_losses[epoch], 4));
        this.print('val_loss', round(this.log.val_losses[epoch], 4));
        this.print('Pseudo dice', `[${dice.map((d) => round(d, 4)).join(', ')}]`);
        this.print(`Epoch time: ${round(epochTime, 2)} s`);
        this.epoch = epoch + 1;
        if ((epoch + 1) % o.saveEvery === 0 && epoch !== o.numEpochs - 1) await this.saveCheckpoint('latest');
        // nnU-Net compares `ema > best`; a NaN best (no foreground anywhere in the first epochs) would block
        // every later best, so NaN counts as "no best yet" here
        const newBest = this.bestEma === null || Number.isNaN(this.bestEma) || ema > this.bestEma;
        if (newBest && !Number.isNaN(ema)) {
          this.bestEma = ema;
          this.print(`Yayy! New best EMA pseudo Dice: ${round(ema, 4)}`);
          await this.saveCheckpoint('best');
        }
        await this.writeProgressFiles();
        this.emit({
          type: 'epoch-end',
          metrics: {
            epoch,
            trainLoss: this.log.train_losses[epoch],
            valLoss: this.log.val_losses[epoch],
            pseudoDice: dice,
            meanFgDice: meanFg,
            emaFgDice: ema,
            lr,
            epochTimeSec: epochTime,
            newBest: newBest && !Number.isNaN(ema),
          },
        });
      }
      // on_train_end
      await this.saveCheckpoint('final');
      await removeCheckpoint(s, 'latest');
      this.print('Training done.');
      await this.writeProgressFiles();
      this.setState('finished');
      return { status: 'finished', epoch: this.epoch, log: this.log, bestEma: this.bestEma };
    } catch (e) {
      const err = await this.describeFailure(e);
      this.dirty = true;
      const resumeFrom = await newestCheckpoint(s).catch(() => null);
      this.print(`Training failed during epoch ${this.epoch}: ${err.message}`);
      await s.write('training_log.txt', textBytes(this.logText)).catch(() => {});
      this.emit({ type: 'error', code: err.code, message: err.message, epoch: this.epoch, resumeFrom });
      this.setState('failed');
      throw err;
    }
  }

  /**
   * The error a failed run reports: a lost GPU device becomes SegStudioError('gpu-device-lost') saying that
   * a resume continues from the last checkpoint (the GPU's rejection often arrives before device.lost
   * resolves, so it is awaited briefly); SegStudioErrors pass through; anything else is wrapped.
   */
  private async describeFailure(e: unknown): Promise<SegStudioError> {
    if (this.deviceLostPromise && !this.deviceLost)
      await Promise.race([this.deviceLostPromise, new Promise((r) => setTimeout(r, 250))]);
    if (this.deviceLost)
      return new SegStudioError(
        'gpu-device-lost',
        `the GPU device was lost (${this.deviceLost}) during epoch ${this.epoch}; training stopped, nothing was saved from ` +
          `that epoch; resume to continue from the last checkpoint (on the GPU again or on the CPU)`,
        this.setup.storage.location,
      );
    if (e instanceof SegStudioError) return e;
    const msg = e instanceof Error ? e.message : String(e);
    return new SegStudioError('training', `training failed during epoch ${this.epoch}: ${msg}`, this.setup.storage.location);
  }

  private async finishStopped(): Promise<TrainerResult> {
    this.print(`Stopped before epoch ${this.epoch}`);
    await this.writeProgressFiles();
    this.setState('stopped');
    return { status: 'stopped', epoch: this.epoch, log: this.log, bestEma: this.bestEma };
  }

  /** Stop inside an epoch: the half-done epoch is dropped from the log; resume restarts it from checkpoint_latest. */
  private async abandonEpoch(): Promise<TrainerResult> {
    const e = this.epoch;
    for (const k of ['epoch_start_timestamps', 'lrs'] as const) this.log[k].length = Math.min(this.log[k].length, e);
    this.dirty = true;
    this.print(`Stopped during epoch ${e} (its progress is discarded; resume continues from the last checkpoint)`);
    await this.setup.storage.write('training_log.txt', textBytes(this.logText));
    this.setState('stopped');
    return { status: 'stopped', epoch: e, log: this.log, bestEma: this.bestEma };
  }

  /** Frees the network and optimizer state on the backend. */
  dispose(): void {
    this.optimizer.dispose();
    this.network.dispose();
  }
}
