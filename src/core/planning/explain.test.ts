import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../../test/sharedData.ts';
import { explainConfiguration, explainFingerprint } from './explain.ts';
import { planExperiment } from './planner.ts';

const ref = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures/planning/plans_reference.json'), 'utf8'));

describe('plain-language plans', () => {
  it('hippocampus (MSD 260) 3d_fullres', () => {
    const c = ref.cases.find((x: { name: string }) => x.name === 'Dataset908_HippocampusMSD260');
    const plans = planExperiment(c.fingerprint, c.dataset_json);
    const t = explainConfiguration(plans, '3d_fullres');
    expect(t).toContain('3D U-Net at full resolution');
    expect(t).toContain('patches of 40 × 56 × 40 voxels');
    expect(t).toContain('9 per step');
    expect(t).toContain('4 resolution stages (3 downsamplings), 32 to 256 feature maps');
    expect(t).toContain('Dice loss is computed per sample');
    expect(explainConfiguration(plans, '2d')).toContain('2D U-Net on single slices');
    expect(explainFingerprint(c.fingerprint)).toContain('5 training cases; median spacing 1 × 1 × 1 mm, median size after cropping 36 × 50 × 35 voxels');
  });
  it('incomplete or broken configurations are described, not thrown', () => {
    const c = ref.cases.find((x: { name: string }) => x.name === 'Dataset908_HippocampusMSD260');
    const plans = planExperiment(c.fingerprint, c.dataset_json);
    plans.configurations.bad = { inherits_from: 'nope' } as never;
    plans.configurations.partial = { batch_size: 3 } as never;
    expect(explainConfiguration(plans, 'bad')).toMatch(/^bad: .*no configuration 'nope'/);
    expect(explainConfiguration(plans, 'partial')).toMatch(/incomplete configuration/);
  });
  it('anisotropic kernels and the cascade are named', () => {
    const c = ref.cases.find((x: { name: string }) => x.name === 'Dataset902_LiverCTLike');
    const plans = planExperiment(c.fingerprint, c.dataset_json);
    expect(explainConfiguration(plans, '3d_cascade_fullres')).toContain('also sees the 3d_lowres prediction');
    expect(explainConfiguration(plans, '3d_lowres')).toContain('downsampled');
    expect(explainConfiguration(plans, '3d_fullres')).toContain('CT normalization');
    const acdc = ref.cases.find((x: { name: string }) => x.name === 'Dataset903_ACDCLike');
    expect(explainConfiguration(planExperiment(acdc.fingerprint, acdc.dataset_json), '3d_fullres')).toContain('in-plane kernels only');
  });
});
