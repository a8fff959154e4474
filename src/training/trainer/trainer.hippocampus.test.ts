// A real training run that fits CI: nnU-Net's trainer loop on 6 real hippocampus cases (4 train, 2 held-out
// validation), a tiny 2D PlainConvUNet on the CPU reference backend, killed after epoch 3 (the process state is
// dropped) and resumed from checkpoint_latest by a fresh trainer. Shows: the restored state equals the state at
// the checkpoint, the log continues without a gap, the training loss falls by ≥ 50 %, and the exported network,
// run through the inference predictor on the held-out cases, beats the trivial baselines (all background, or
// every voxel one label).
// Budget: nnU-Net trains 1000 × 250 iterations with 32–320 features; here 8 × 30 iterations with 4–16 features
// and no augmentation (PyTorch with the same net, data and budget needs ~100–250 steps to leave the
// all-background phase on these cases, so the budget is near the minimum; the seed is fixed).
import { expect, it } from 'vitest';
import { describeWithData, dataPath } from '../../../test/sharedData.ts';
import { readImageFile } from '../../core/io/index.ts';
import { loadBundle } from '../../core/inference/bundle.ts';
import { computeMetrics } from '../../core/evaluation/metrics.ts';
import { loadRawCase } from '../../core/planning/fingerprint.ts';
import { nodeDatasetFiles } from '../../node/fsDataset.ts';
import { createOrtNodeRunner } from '../../node/ortNodeRunner.ts';
import { CpuBackend } from '../kernels/cpu/cpuBackend.ts';
import { polyLR } from '../nn/optimizer.ts';
import { loadCheckpoint } from './checkpoint.ts';
import { openRawDataset, preprocessTrainingCases } from './dataset.ts';
import { bundleFromCheckpoints } from './exportOnnx.ts';
import { MemoryStorage } from './storage.ts';
import { tinyPlans } from './testing.ts';
import { Trainer, type TrainerOptions } from './trainer.ts';
import { validateFold, type ValidationCase } from './validation.ts';

describeWithData('real training run on hippocampus cases (CPU reference backend)', () => {
  it('learns, survives a kill after epoch 3 and resumes from checkpoint_latest', async () => {
    const files = nodeDatasetFiles(dataPath('Dataset004_Hippocampus'));
    const raw = await openRawDataset(files);
    const six = raw.cases.slice(0, 6);
    const plans = tinyPlans({ features: [4, 8, 16], kernel: [3, 3], strides: [[1, 1], [2, 2], [2, 2]], patch: [32, 32], batchSize: 4 }, '2d', { batch_dice: true });
    plans.dataset_name = 'Dataset004_Hippocampus';
    const pre = await preprocessTrainingCases(files, six, plans, '2d', readImageFile);
    const options: Partial<TrainerOptions> = {
      numEpochs: 8,
      iterationsPerEpoch: 30,
      valIterationsPerEpoch: 4,
      initialLr: 0.02,
      augmentation: false,
      seed: Number(process.env.SEGSTUDIO_TRAIN_TEST_SEED ?? 3),
    };
    const storage = new MemoryStorage('hippocampus-run');
    const make = (opts: Partial<TrainerOptions>, onStop?: (t: Trainer) => void) => {
      let t: Trainer | null = null;
      return Trainer.create({
        backend: new CpuBackend('float32'),
        plans,
        configuration: '2d',
        dataset: raw.dataset,
        fold: 0,
        trainCases: pre.slice(0, 4),
        valCases: pre.slice(4),
        storage,
        options: opts,
        onEvent: (e) => {
          if (e.type === 'epoch-end') {
            const m = e.metrics;
            console.log(`hippocampus epoch ${m.epoch}: train ${m.trainLoss.toFixed(3)} val ${m.valLoss.toFixed(3)} pseudo Dice [${m.pseudoDice.map((d) => d.toFixed(3))}] EMA ${m.emaFgDice.toFixed(3)}`);
            if (m.epoch === 3) onStop?.(t!);
          }
        },
      }).then((tr) => (t = tr));
    };

    // run 1: "killed" after epoch 3 (stop, then the trainer and its backend are thrown away)
    const first = await make(options, (t) => t.stop());
    const r1 = await first.run();
    expect(r1).toMatchObject({ status: 'stopped', epoch: 4 });
    const atStop = await first.checkpointData();
    first.dispose();
    const latest = await loadCheckpoint(storage, 'latest');
    expect(latest.meta.current_epoch).toBe(4);

    // run 2: a fresh trainer (different init seed, so any leftover would show) restores checkpoint_latest
    const second = await make({ ...options, seed: 999 });
    expect(await second.restore()).toBe('latest');
    const restored = await second.checkpointData();
    expect(restored.meta.current_epoch).toBe(4);
    expect(restored.meta.rng).toEqual(atStop.meta.rng);
    expect(restored.meta.logging).toEqual(atStop.meta.logging);
    expect(restored.meta.optimizer).toEqual(atStop.meta.optimizer);
    for (const k of Object.keys(atStop.weights)) expect(Array.from(restored.weights[k].data)).toEqual(Array.from(atStop.weights[k].data));
    for (const k of Object.keys(atStop.momentum)) expect(Array.from(restored.momentum[k])).toEqual(Array.from(atStop.momentum[k]));
    const r2 = await second.run();
    expect(r2.status).toBe('finished');
    second.dispose();

    // one continuous log: 8 epochs, poly LR of every epoch, no gap at the resume
    const log = r2.log;
    expect(log.lrs).toEqual(Array.from({ length: 8 }, (_, e) => polyLR(0.02, e, 8)));
    for (const k of ['train_losses', 'val_losses', 'mean_fg_dice', 'ema_fg_dice', 'epoch_end_timestamps'] as const) expect(log[k].length).toBe(8);
    const final = await loadCheckpoint(storage, 'final');
    expect(final.meta.current_epoch).toBe(8);
    expect(final.meta.optimizer.step).toBe(8 * 30);

    // it learned: training loss halves
    console.log(`hippocampus train loss ${log.train_losses[0].toFixed(3)} → ${log.train_losses[7].toFixed(3)}`);
    expect(log.train_losses[7]).toBeLessThanOrEqual(0.5 * log.train_losses[0]);

    // held-out validation through the exported ONNX and the inference predictor, vs trivial baselines
    const bundle = await loadBundle(await bundleFromCheckpoints([{ fold: 0, checkpoint: final }], plans, raw.dataset), 'trained');
    const runner = await createOrtNodeRunner(bundle.networks[0].bytes, { device: 'cpu', threads: 1 });
    const valCases: ValidationCase[] = [];
    for (const c of six.slice(4)) {
      const r = await loadRawCase(files, c, readImageFile);
      valCases.push({ id: c.id, image: r.image, reference: r.seg, referenceFile: c.label!, predictionFile: `${c.id}.nii.gz` });
    }
    const summary = await validateFold(bundle, [runner], valCases, { tta: false });
    await runner.dispose();
    const dice = summary.foreground_mean.Dice;
    // baselines on the same cases: everything background (Dice 0), or everything label 1 / label 2
    const baselines = [1, 2].map((l) => {
      let s = 0;
      for (const v of valCases) {
        const constant = new Uint8Array(v.reference.data.length).fill(l);
        const m = computeMetrics(v.reference.data, constant, [1, 2]);
        s += (m['1'].Dice + m['2'].Dice) / 2;
      }
      return s / valCases.length;
    });
    console.log(`hippocampus held-out Dice: ${dice.toFixed(3)} per label ${JSON.stringify(Object.fromEntries(Object.entries(summary.mean).map(([k, m]) => [k, +m.Dice.toFixed(3)])))}; baselines: background 0, constant label ${baselines.map((b) => b.toFixed(3))}`);
    expect(dice).toBeGreaterThan(Math.max(0, ...baselines));
    expect(dice).toBeGreaterThan(0.1);
  }, 600_000);
});
