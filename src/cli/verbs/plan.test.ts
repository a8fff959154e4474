import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataPath, describeWithData, repoRoot } from '../../../test/sharedData.ts';
import { pyJsonParse } from '../../core/evaluation/pyjson.ts';
import { run } from './plan.ts';
import { memoryTargetFromAdapterLimits, planExperiment } from '../../core/planning/planner.ts';

const fixtures = path.join(repoRoot, 'test/fixtures/planning');

describeWithData('segstudio plan on the real hippocampus dataset', () => {
  it('writes nnU-Net-identical nnUNetPlans.json, its fingerprint and splits', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-plan-'));
    // nnU-Net's planner output for these 190 cases (fingerprint sampled with 1e6 foreground voxels in total)
    const ref = JSON.parse(fs.readFileSync(path.join(fixtures, 'plans_reference.json'), 'utf8')).cases.find(
      (c: { name: string }) => c.name === 'Dataset004_Hippocampus',
    );
    const code = await run([dataPath('Dataset004_Hippocampus'), '-o', out, '--samples', '1e6']);
    expect(code).toBe(0);
    expect(fs.readFileSync(path.join(out, 'nnUNetPlans.json'), 'utf8')).toBe(ref.plans_text);
    const fp = pyJsonParse<{ spacings: number[][] }>(fs.readFileSync(path.join(out, 'dataset_fingerprint.json'), 'utf8'));
    expect(fp.spacings).toEqual(ref.fingerprint.spacings);
    // sklearn KFold splits recorded for the same sorted id list
    const kf = JSON.parse(fs.readFileSync(path.join(fixtures, 'kfold_splits.json'), 'utf8')).cases.find(
      (c: { ids: string[] }) => c.ids.length === 190,
    );
    expect(JSON.parse(fs.readFileSync(path.join(out, 'splits_final.json'), 'utf8'))).toEqual(kf.splits);
    expect(fs.readFileSync(path.join(out, 'dataset.json'), 'utf8')).toBe(
      fs.readFileSync(dataPath('Dataset004_Hippocampus', 'dataset.json'), 'utf8'),
    );
  }, 120_000);
});

describeWithData('segstudio plan on the real ISBI 2012 EM dataset (PNG, 2D)', () => {
  it('writes nnU-Net-identical dataset_fingerprint.json and nnUNetPlans.json', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-plan-'));
    const ref = JSON.parse(fs.readFileSync(path.join(fixtures, 'plans_reference.json'), 'utf8')).cases.find(
      (c: { name: string }) => c.name === 'Dataset901_ISBI2012EM',
    );
    expect(await run([dataPath('Dataset901_ISBI2012EM'), '-o', out, '--samples', '1e6'])).toBe(0);
    expect(fs.readFileSync(path.join(out, 'dataset_fingerprint.json'), 'utf8')).toBe(ref.fingerprint_text);
    expect(fs.readFileSync(path.join(out, 'nnUNetPlans.json'), 'utf8')).toBe(ref.plans_text);
  }, 120_000);
});

describeWithData('segstudio plan keeps hand-made configurations and existing splits', () => {
  it('re-planning into the same folder', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-plan-'));
    const plansFile = path.join(out, 'nnUNetPlans.json');
    const custom = { inherits_from: '2d', batch_size: 4 };
    fs.writeFileSync(plansFile, JSON.stringify({ configurations: { '2d': { batch_size: 1 }, my_2d_bs4: custom } }));
    fs.writeFileSync(path.join(out, 'splits_final.json'), '[{"train": ["a"], "val": ["b"]}]');
    expect(await run([dataPath('Dataset901_ISBI2012EM'), '-o', out, '--samples', '1e4'])).toBe(0);
    const plans = JSON.parse(fs.readFileSync(plansFile, 'utf8'));
    expect(Object.keys(plans.configurations)).toEqual(['2d', 'my_2d_bs4']);
    expect(plans.configurations.my_2d_bs4).toEqual(custom);
    expect(plans.configurations['2d'].batch_size).toBe(2); // re-planned
    expect(fs.readFileSync(path.join(out, 'splits_final.json'), 'utf8')).toBe('[{"train": ["a"], "val": ["b"]}]');
  }, 120_000);
});

describeWithData('segstudio plan --gpu-memory adapter', () => {
  it('plans with the target derived from the WebGPU adapter limits (or names the missing adapter)', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-plan-'));
    let limits: { maxStorageBufferBindingSize: number; maxBufferSize: number } | null = null;
    try {
      const { getNodeGpuDevice } = await import('../../node/webgpuDevice.ts');
      limits = (await getNodeGpuDevice()).device.limits;
    } catch {
      limits = null;
    }
    const args = [dataPath('Dataset901_ISBI2012EM'), '-o', out, '--samples', '1e4', '--gpu-memory', 'adapter'];
    if (!limits) {
      await expect(run(args)).rejects.toThrow(/WebGPU/);
      return;
    }
    expect(await run(args)).toBe(0);
    const plans = JSON.parse(fs.readFileSync(path.join(out, 'nnUNetPlans.json'), 'utf8'));
    const gb = memoryTargetFromAdapterLimits(limits);
    const ref = planExperiment(
      pyJsonParse(fs.readFileSync(path.join(out, 'dataset_fingerprint.json'), 'utf8')),
      JSON.parse(fs.readFileSync(dataPath('Dataset901_ISBI2012EM', 'dataset.json'), 'utf8')),
      { gpuMemoryTargetGB: gb },
    );
    expect(plans.configurations['2d'].patch_size).toEqual(ref.configurations['2d'].patch_size);
    expect(plans.configurations['2d'].batch_size).toBe(ref.configurations['2d'].batch_size);
  }, 120_000);
});

describe('segstudio plan errors', () => {
  it('names a missing dataset folder', async () => {
    await expect(run(['/nonexistent/Dataset999_X', '-o', os.tmpdir()])).rejects.toThrow(/Dataset999_X: dataset folder not found/);
  });
  it('checks --gpu-memory', async () => {
    await expect(run([repoRoot, '-o', os.tmpdir(), '--gpu-memory', 'lots'])).rejects.toThrow(/--gpu-memory expects a number of GB or 'adapter'/);
  });
  it('checks --overwrite-target-spacing', async () => {
    await expect(run([repoRoot, '-o', os.tmpdir(), '--overwrite-target-spacing', '1', '2'])).rejects.toThrow(/three positive numbers/);
  });
  it('needs -o', async () => {
    await expect(run([repoRoot])).rejects.toThrow(/missing required option -o/);
  });
  it('names a dataset folder without dataset.json', async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-empty-'));
    await expect(run([d, '-o', path.join(d, 'out')])).rejects.toThrow(/dataset.json/);
  });
});
