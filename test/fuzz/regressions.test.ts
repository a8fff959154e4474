// Crashers the fuzz harness (npm run fuzz) found, kept as regression tests. Each builds its tiny input in
// code (or from a recipe) and checks the parser now refuses it with a SegStudioError naming the file, or
// handles it without throwing.
import { describe, expect, it } from 'vitest';
import { explainConfiguration } from '../../src/core/planning/explain.ts';
import { demoPlans } from '../../src/core/demo/demoModel.ts';
import type { Plans } from '../../src/core/planning/plans.ts';

describe('fuzz regressions: explainConfiguration on malformed plans', () => {
  // fuzz: plans target, seed 1 cases 7, 21, 32 (TypeError in explain.ts)
  it('describes null kernel sizes / strides instead of throwing', () => {
    const p = demoPlans() as Plans;
    const arch = { n_stages: 2, features_per_stage: [8, 16], n_conv_per_stage: [2, 2], strides: [[1, 1, 1], null], kernel_sizes: [null, [3, 3, 3]] };
    (p.configurations['3d_fullres'] as unknown as Record<string, unknown>).architecture = { network_class_name: 'x', arch_kwargs: arch };
    expect(() => explainConfiguration(p, '3d_fullres')).not.toThrow();
    expect(explainConfiguration(p, '3d_fullres')).toMatch(/^3d_fullres: malformed configuration/);
  });

  it('describes non-numeric sizes instead of throwing', () => {
    const p = demoPlans() as Plans;
    (p.configurations['3d_fullres'] as unknown as Record<string, unknown>).median_image_size_in_voxels = ['\ud800', 60, 60];
    const text = explainConfiguration(p, '3d_fullres');
    expect(typeof text).toBe('string');
    expect(text.startsWith('3d_fullres:')).toBe(true);
  });

  it('still explains a valid configuration fully', () => {
    const text = explainConfiguration(demoPlans(), '3d_fullres');
    expect(text).toMatch(/3D U-Net at full resolution/);
    expect(text).not.toMatch(/malformed/);
  });
});
