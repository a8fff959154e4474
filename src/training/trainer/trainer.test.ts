// Trainer loop on the CPU reference backend with synthetic cases: nnU-Net semantics of the log, checkpoints,
// deterministic stop/resume, pause, and the pieces (sampler, pseudo Dice, EMA, checkpoint codec).
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../kernels/cpu/cpuBackend.ts';
import { RandomState } from '../data/random.ts';
import { polyLR } from '../nn/optimizer.ts';
import { Trainer, type TrainerEvent, type TrainerOptions } from './trainer.ts';
import { MemoryStorage, bytesText } from './storage.ts';
import { sha256Hex } from '../../core/inference/sha256.ts';
import { accumulateHardCounts, globalDice, nanmean, zeroCounts } from './pseudoDice.ts';
import { emptyLog, nextEma, progressSvg, niceTicks } from './log.ts';
import { decodeCheckpoint, encodeCheckpoint, loadCheckpoint, type CheckpointData } from './checkpoint.ts';
import { blobCase, tinyPlans, TINY_DATASET } from './testing.ts';

const arch = { features: [2, 4], kernel: [3, 3, 3], strides: [[1, 1, 1], [2, 2, 2]], patch: [8, 8, 8], batchSize: 2 };
const cases = [0, 1, 2, 3].map((i) => blobCase(`case_${i}`, [10, 12, 12], 100 + i));

function makeTrainer(storage: MemoryStorage, options: Partial<TrainerOptions>, onEvent?: (e: TrainerEvent) => void, clockStart = 1.7e12) {
  let t = clockStart;
  return Trainer.create({
    backend: new CpuBackend('float32'),
    plans: tinyPlans(arch),
    configuration: '3d_fullres',
    dataset: TINY_DATASET,
    fold: 0,
    trainCases: cases.slice(0, 3),
    valCases: cases.slice(3),
    storage,
    options: { numEpochs: 3, iterationsPerEpoch: 2, valIterationsPerEpoch: 1, seed: 7, augmentation: false, ...options },
    clock: () => (t += 250),
    onEvent,
  });
}

const withoutTimes = (log: ReturnType<typeof emptyLog>) => ({ ...log, epoch_start_timestamps: [], epoch_end_timestamps: [], epoch_times_sec: [] });

describe('pseudo Dice and EMA (nnU-Net validation_step / logger)', () => {
  it('global 2tp/(2tp+fp+fn) per foreground class over batches, ignore label masked, NaN when absent', () => {
    // 2 samples × 4 voxels, 3 classes + ignore label 3; logits chosen so argmax = pred
    const pred = [[1, 1, 0, 2], [0, 1, 1, 0]];
    const tgt = [[1, 0, 0, 3], [1, 1, 3, 0]];
    const logits = new Float32Array(2 * 3 * 4);
    pred.forEach((p, b) => p.forEach((c, v) => (logits[(b * 3 + c) * 4 + v] = 5)));
    const acc = zeroCounts(3);
    accumulateHardCounts(acc, logits, Float32Array.from(tgt.flat()), 2, 3, 3);
    // class 1: tp = 2 (b0v0, b1v1), fp = 1 (b0v1), fn = 1 (b1v0); b1v2 ignored
    // class 2: b0v3 predicted 2 but ignored → nothing
    expect(Array.from(acc.tp)).toEqual([2, 0]);
    expect(Array.from(acc.fp)).toEqual([1, 0]);
    expect(Array.from(acc.fn)).toEqual([1, 0]);
    const d = globalDice(acc);
    expect(d[0]).toBeCloseTo(4 / 6, 12);
    expect(Number.isNaN(d[1])).toBe(true);
    expect(nanmean(d)).toBeCloseTo(4 / 6, 12);
  });

  it('EMA = 0.9·old + 0.1·new, the first value as is', () => {
    const log = emptyLog();
    expect(nextEma(log, 0.5)).toBe(0.5);
    log.ema_fg_dice.push(0.5);
    expect(nextEma(log, 0.8)).toBeCloseTo(0.53, 12);
  });

  it('progress plot has the three nnU-Net panels and survives NaN', () => {
    const log = emptyLog();
    log.train_losses.push(0.5, 0.2);
    log.val_losses.push(0.6, 0.3);
    log.mean_fg_dice.push(NaN, 0.4);
    log.ema_fg_dice.push(NaN, 0.4);
    log.lrs.push(0.01, 0.005);
    log.epoch_times_sec.push(3, 4);
    const svg = progressSvg(log);
    expect(svg.startsWith('<svg')).toBe(true);
    for (const label of ['loss_tr', 'loss_val', 'pseudo dice (mov. avg.)', 'epoch duration', 'learning rate']) expect(svg).toContain(label);
    expect(svg).not.toContain('NaN');
    expect(niceTicks(0, 1)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
  });
});

describe('checkpoint codec', () => {
  const data: CheckpointData = {
    meta: {
      format: 'segstudio-checkpoint/1', trainer_name: 'nnUNetTrainer', dataset_name: 'D', plans_name: 'P', configuration: '3d_fullres',
      fold: 'all', current_epoch: 2, init_args: { numEpochs: 5 }, network: { inputChannels: 1, numClasses: 2, nStages: 1, featuresPerStage: [1], kernelSizes: [[1, 1, 1]], strides: [[1, 1, 1]], nConvPerStage: [1], nConvPerStageDecoder: [], convBias: true, deepSupervision: true },
      patch_size: [4, 4, 4], batch_size: 2, logging: { ...emptyLog(), mean_fg_dice: [NaN, 0.25], ema_fg_dice: [NaN, Infinity] }, _best_ema: 0.25,
      optimizer: { initial_lr: 0.01, momentum: 0.99, weight_decay: 3e-5, nesterov: true, step: 7 }, rng: { train: new RandomState(3).getState() },
      inference_allowed_mirroring_axes: [0, 1, 2], backend: 'cpu-float32', saved_at: 123,
    },
    weights: { a: { shape: [2, 3], data: Float32Array.from([1.5, -2, 3e-39, NaN, -0, 7]) }, b: { shape: [1], data: Float32Array.from([Math.fround(0.1)]) } },
    momentum: { a: Float32Array.from([0, 1, 2, 3, 4, 5]) },
  };

  it('round-trips bit-exactly (denormals, NaN, −0, NaN/Infinity in the log)', async () => {
    const { json, bin } = await encodeCheckpoint(data, 'checkpoint_best.bin');
    const back = await decodeCheckpoint(json, bin, 'checkpoint_best.json');
    expect(back.meta).toEqual(data.meta);
    for (const k of ['a', 'b']) {
      const x = new Uint8Array(back.weights[k].data.buffer), y = new Uint8Array(data.weights[k].data.buffer);
      expect(Array.from(x)).toEqual(Array.from(y));
      expect(back.weights[k].shape).toEqual(data.weights[k].shape);
    }
    expect(Array.from(back.momentum.a)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('refuses a truncated or altered tensor file, naming the checkpoint', async () => {
    const { json, bin } = await encodeCheckpoint(data, 'checkpoint_latest.bin');
    await expect(decodeCheckpoint(json, bin.slice(0, 8), 'f/checkpoint_latest.json')).rejects.toThrow(/f\/checkpoint_latest\.json: checkpoint_latest\.bin has 8 bytes, the checkpoint expects 52/);
    const bad = bin.slice();
    bad[3] ^= 1;
    await expect(decodeCheckpoint(json, bad, 'x.json')).rejects.toThrow(/does not match its sha256/);
    await expect(decodeCheckpoint(new TextEncoder().encode('{"format":"other"}'), bin, 'y.json')).rejects.toThrow(/y\.json: not a SegStudio checkpoint/);
    // the WebCrypto digest equals the pure-TypeScript one
    expect(JSON.parse(new TextDecoder().decode(json)).bin.sha256).toBe(sha256Hex(bin));
    await expect(loadCheckpoint(new MemoryStorage('mem'), 'final')).rejects.toThrow(/mem\/checkpoint_final\.json: checkpoint not found/);
  });
});

describe('Trainer (CPU backend, synthetic cases)', () => {
  it('runs nnU-Net epochs: poly LR per epoch, losses, pseudo Dice + EMA, checkpoints best/latest/final, log files', async () => {
    const st = new MemoryStorage();
    const events: TrainerEvent[] = [];
    const tr = await makeTrainer(st, {}, (e) => events.push(e));
    const res = await tr.run();
    expect(res.status).toBe('finished');
    expect(res.epoch).toBe(3);
    const log = tr.trainingLog;
    expect(log.lrs).toEqual([0, 1, 2].map((e) => polyLR(0.01, e, 3)));
    expect(log.train_losses.length).toBe(3);
    expect(log.val_losses.every(Number.isFinite)).toBe(true);
    expect(log.dice_per_class_or_region.every((d) => d.length === 2)).toBe(true);
    for (let e = 1; e < 3; e++) {
      const expected = Number.isNaN(log.ema_fg_dice[e - 1]) ? log.mean_fg_dice[e] : 0.9 * log.ema_fg_dice[e - 1] + 0.1 * log.mean_fg_dice[e];
      expect(log.ema_fg_dice[e]).toBeCloseTo(expected, 12);
    }
    // the injected clock advances 250 ms per call; epoch times are end − start
    expect(log.epoch_times_sec.every((t, i) => Math.abs(t - (log.epoch_end_timestamps[i] - log.epoch_start_timestamps[i])) < 1e-9)).toBe(true);
    // files: final + best, latest deleted after final (nnU-Net on_train_end)
    for (const f of ['checkpoint_final.json', 'checkpoint_final.bin', 'checkpoint_best.json', 'training_log.txt', 'progress.svg', 'debug.json'])
      expect(await st.exists(f)).toBe(true);
    expect(await st.exists('checkpoint_latest.json')).toBe(false);
    const text = bytesText(await st.read('training_log.txt'));
    expect(text).toMatch(/: Epoch 2\n/);
    expect(text).toMatch(/: Current learning rate: 0\.01\n/);
    expect(text).toMatch(/: Pseudo dice \[/);
    expect(text).toMatch(/Training done\./);
    const final = await loadCheckpoint(st, 'final');
    expect(final.meta.current_epoch).toBe(3);
    expect(final.meta.optimizer.step).toBe(6);
    const sd = await tr.network.getStateDict();
    for (const k of Object.keys(sd)) expect(Array.from(final.weights[k].data)).toEqual(Array.from(sd[k].data));
    // events for a live chart
    const ends = events.filter((e) => e.type === 'epoch-end');
    expect(ends.map((e) => (e.type === 'epoch-end' ? e.metrics.epoch : -1))).toEqual([0, 1, 2]);
    expect(events.filter((e) => e.type === 'iteration' && e.phase === 'train').length).toBe(6);
    expect(events.filter((e) => e.type === 'checkpoint').map((e) => (e.type === 'checkpoint' ? e.name : ''))).toContain('latest');
    tr.dispose();
  });

  it('stop after epoch k + restore from checkpoint_latest reproduces the uninterrupted run bit for bit', async () => {
    const full = await makeTrainer(new MemoryStorage(), {});
    await full.run();
    const ref = await full.network.getStateDict();
    const refOpt = await full.optimizer.getState();
    const st = new MemoryStorage();
    let tr: Trainer | null = null;
    tr = await makeTrainer(st, {}, (e) => {
      if (e.type === 'epoch-end' && e.metrics.epoch === 0) tr!.stop();
    });
    const r1 = await tr.run();
    expect(r1).toMatchObject({ status: 'stopped', epoch: 1 });
    tr.dispose();
    // a new process: fresh trainer (different init would follow from a different seed; same seed here), restore
    const resumed = await makeTrainer(st, {}, undefined, 2e12);
    expect(await resumed.restore()).toBe('latest');
    expect(resumed.currentEpoch).toBe(1);
    const r2 = await resumed.run();
    expect(r2.status).toBe('finished');
    const got = await resumed.network.getStateDict();
    for (const k of Object.keys(ref)) expect(Array.from(got[k].data)).toEqual(Array.from(ref[k].data));
    const gotOpt = await resumed.optimizer.getState();
    expect(gotOpt.step).toBe(refOpt.step);
    for (const k of Object.keys(refOpt.momentum)) expect(Array.from(gotOpt.momentum[k])).toEqual(Array.from(refOpt.momentum[k]));
    expect(withoutTimes(resumed.trainingLog)).toEqual(withoutTimes(full.trainingLog));
    const text = bytesText(await st.read('training_log.txt'));
    expect(text).toMatch(/Epoch 0[\s\S]*Resuming from checkpoint_latest at epoch 1[\s\S]*Epoch 1[\s\S]*Epoch 2/);
    full.dispose();
    resumed.dispose();
  });

  it('a stop inside an epoch discards it: run() refuses until a checkpoint is restored, then continues', async () => {
    const st = new MemoryStorage();
    let tr: Trainer | null = null;
    let stopped = false;
    tr = await makeTrainer(st, {}, (e) => {
      if (!stopped && e.type === 'iteration' && e.epoch === 1 && e.phase === 'train' && e.iteration === 0) {
        stopped = true;
        tr!.stop();
      }
    });
    const r = await tr.run();
    expect(r).toMatchObject({ status: 'stopped', epoch: 1 });
    expect(tr.trainingLog.lrs.length).toBe(1);
    await expect(tr.run()).rejects.toThrow(/stopped mid-epoch/);
    expect(await tr.restore('latest')).toBe('latest');
    expect((await tr.run()).status).toBe('finished');
    tr.dispose();
  });

  it('pause holds the loop between iterations until resume', async () => {
    let tr: Trainer | null = null;
    const seen: string[] = [];
    tr = await makeTrainer(new MemoryStorage(), { numEpochs: 1 }, (e) => {
      if (e.type === 'state') seen.push(e.state);
      if (e.type === 'iteration') seen.push(`${e.phase}${e.iteration}`);
      if (e.type === 'iteration' && e.phase === 'train' && e.iteration === 0) tr!.pause();
    });
    const done = tr.run();
    await new Promise((r) => setTimeout(r, 300));
    expect(tr.state).toBe('paused');
    expect(seen).toEqual(['running', 'train0', 'paused']);
    tr.resume();
    expect((await done).status).toBe('finished');
    expect(seen).toEqual(['running', 'train0', 'paused', 'running', 'train1', 'val0', 'finished']);
    tr.dispose();
  });

  it('checkpoint save → load into a fresh trainer restores weights, momentum, log, epoch and RNG exactly', async () => {
    const st = new MemoryStorage();
    const a = await makeTrainer(st, { numEpochs: 2, augmentation: true });
    await a.run();
    const ck = await loadCheckpoint(st, 'final');
    const b = await makeTrainer(new MemoryStorage(), { numEpochs: 2, seed: 99, augmentation: true });
    await b.loadCheckpoint(ck);
    const da = await a.checkpointData(), db = await b.checkpointData();
    expect(db.meta.rng).toEqual(da.meta.rng);
    expect(db.meta.current_epoch).toBe(2);
    expect(db.meta.logging).toEqual(da.meta.logging);
    for (const k of Object.keys(da.weights)) expect(Array.from(db.weights[k].data)).toEqual(Array.from(da.weights[k].data));
    for (const k of Object.keys(da.momentum)) expect(Array.from(db.momentum[k])).toEqual(Array.from(da.momentum[k]));
    // the highest-resolution head only feeds deep supervision weight 0 at the lowest output: it has no momentum
    expect(Object.keys(da.momentum).length).toBeGreaterThan(0);
    a.dispose();
    b.dispose();
  });

  it('refuses plans whose patch is not divisible by the network stride, naming plans.json', async () => {
    await expect(
      Trainer.create({
        backend: new CpuBackend('float32'), plans: tinyPlans({ ...arch, patch: [8, 8, 9] }), configuration: '3d_fullres', dataset: TINY_DATASET,
        fold: 0, trainCases: cases, valCases: [], storage: new MemoryStorage(),
      }),
    ).rejects.toThrow(/plans\.json: patch_size \[8,8,9\] is not divisible/);
  });
});
