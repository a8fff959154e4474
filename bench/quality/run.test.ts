// The quality harness's pure parts: option parsing (nnU-Net's defaults), the extrapolation arithmetic and the
// Markdown table. The training run itself is the benchmark (npm run bench:quality), not a test.
import { describe, expect, it } from 'vitest';
import { extrapolate, parseCli, toMarkdown, type DatasetResult } from './run.ts';

describe('bench:quality options', () => {
  it('defaults to nnU-Net: 1000 epochs × 250 iterations, 50 validation iterations, 5 folds, both datasets', () => {
    const o = parseCli([]);
    expect([o.epochs, o.iterations, o.valIterations]).toEqual([1000, 250, 50]);
    expect(o.folds).toEqual([0, 1, 2, 3, 4]);
    expect(o.datasets).toEqual(['hippocampus', 'isbi']);
    expect([o.plans, o.lr, o.parallel]).toEqual([undefined, undefined, 1]);
  });

  it('takes a reduced plans file, a learning rate and a number of folds trained at once', () => {
    const o = parseCli(['--plans', 'p/cpu.json', '--lr', '0.02', '--parallel', '5']);
    expect(o.plans).toMatch(/p[\\/]cpu\.json$/);
    expect(o.plans!.startsWith('/')).toBe(true);
    expect([o.lr, o.parallel]).toEqual([0.02, 5]);
    expect(() => parseCli(['--lr', '2'])).toThrow(/--lr expects a learning rate/);
    expect(() => parseCli(['--parallel', '0'])).toThrow(/positive integer/);
  });

  it('scales validation iterations with a short schedule (iterations / 5, at least 1) and parses lists', () => {
    expect(parseCli(['--iterations', '20']).valIterations).toBe(4);
    expect(parseCli(['--iterations=2']).valIterations).toBe(1);
    expect(parseCli(['--iterations', '20', '--val-iterations', '7']).valIterations).toBe(7);
    const o = parseCli(['--dataset', 'isbi', '--folds', '0,3', '--configs', '2d']);
    expect(o.datasets).toEqual(['isbi']);
    expect(o.folds).toEqual([0, 3]);
    expect(o.configs).toEqual(['2d']);
  });

  it('refuses unknown options, bad datasets and bad folds', () => {
    expect(() => parseCli(['--epoch', '3'])).toThrow(/unknown option --epoch/);
    expect(() => parseCli(['--dataset', 'brats'])).toThrow(/hippocampus, isbi or all/);
    expect(() => parseCli(['--folds', '5'])).toThrow(/0\.\.4/);
    expect(() => parseCli(['--epochs', '0'])).toThrow(/positive integer/);
  });
});

describe('bench:quality extrapolation and report', () => {
  it('extrapolates s/iteration to 1000 × (250 + 50) iterations per fold, 5 folds per configuration', () => {
    // 1.2 s × 300 000 iterations = 360 000 s = 100 h per fold; × 5 folds × 2 configurations = 1000 h
    const e = extrapolate(1.2, 2)!;
    expect(e.fullScheduleHoursPerFold).toBeCloseTo(100, 10);
    expect(e.fullScheduleHoursAllFolds).toBeCloseTo(1000, 10);
    expect(extrapolate(NaN, 1)).toBeNull();
  });

  it('puts our Dice beside the published figure and states the schedule', () => {
    const r: DatasetResult = {
      dataset: 'Dataset004_Hippocampus',
      schedule: { epochs: 2, iterations: 5, valIterations: 1, folds: [0], configs: ['3d_fullres'], plans: 'nnUNetPlansCPU', lr: 0.02 },
      folds: [{ configuration: '3d_fullres', fold: 0, wallSeconds: 90, secondsPerIteration: 1.5, backend: 'cpu-fast', reused: false, foregroundDice: 0.5 }],
      best: 'nnUNetTrainer__nnUNetPlans__3d_fullres',
      postprocessing: [],
      dice: [
        { label: 'Anterior', key: '1', beforePostprocessing: 0.61234, afterPostprocessing: 0.62346, nnunet: 0.9 },
        { label: 'Posterior', key: '2', beforePostprocessing: 0.5, afterPostprocessing: NaN, nnunet: 0.89 },
      ],
      foregroundMean: { before: 0.55617, after: 0.6 },
      reference: { source: 'paper', configuration: '3d_fullres', dice: { Anterior: 0.9, Posterior: 0.89 } },
      extrapolation: extrapolate(1.5, 1),
    };
    const md = toMarkdown([r], { date: 'D', cpus: 2, cpuModel: 'X', node: 'v20', command: 'npm run bench:quality -- --epochs 2' });
    expect(md).toContain('| Anterior | 0.6123 | 0.6235 | 0.90 |');
    expect(md).toContain('| Posterior | 0.5000 | – | 0.89 |');
    expect(md).toContain('| foreground mean | 0.5562 | 0.6000 | 0.895 |');
    expect(md).toContain('2 epochs × 5 iterations (+ 1 validation iterations per epoch), initial learning rate 0.02, folds 0, configurations 3d_fullres of plans nnUNetPlansCPU');
    expect(md).toContain('| 3d_fullres | 0 | 1.5 min | 1.50 | cpu-fast | 0.5000 |');
    // 1.5 s × 300 000 = 125 h per fold, 625 h for 5 folds
    expect(md).toContain('125 h per fold, 625 h for 5 folds × 1 configuration(s)');
  });
});
