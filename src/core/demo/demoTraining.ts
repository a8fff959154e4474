// What the shipped demo model is (public/models/demo/, trained by scripts/train-demo.ts with SegStudio's own
// trainer on generated phantoms): the network layout, patch sizes, held-out seeds, and the model card's
// Markdown. Pure data, shared by the training script, the tests and the docs.

export const DEMO_DATASET_NAME = 'Dataset998_SegStudioDemoPhantoms';

/** PlainConvUNet layout: 3 stages (strides 1, 2, 2), 3×3×3 convolutions, two per stage. */
export const DEMO_ARCH = Object.freeze({ features: [4, 8, 16] as readonly number[], convsPerStage: 2 });

/** Patch the trainer samples (z, y, x at 1.5 mm). */
export const DEMO_TRAIN_PATCH: readonly number[] = [48, 64, 64];

/**
 * Patch of the exported network and the bundle's plans: the default demo phantom cropped to its head
 * (≈ 44 × 62 × 59 voxels) fits in one tile, so the page runs the network once per mirroring.
 */
export const DEMO_EXPORT_PATCH: readonly number[] = [48, 64, 64];

/** Seeds of randomPhantomOptions never used for training (training uses 1..N). */
export const DEMO_HELDOUT_SEEDS: readonly number[] = [5001, 5002, 5003, 5004, 5005, 5006, 5007, 5008, 5009, 5010, 5011, 5012];

interface CardLike {
  training: { data: string; command: string; schedule: Record<string, unknown>; seed: number; wall_time_min: number | null; backend?: unknown; note?: string };
  evaluation: { demo_phantom_dice: Record<string, number>; heldout: { seeds: readonly number[]; mean_dice: Record<string, number>; min_dice: Record<string, number> } };
  architecture: { features_per_stage: readonly number[]; parameters: number; training_patch_size: readonly number[]; inference_patch_size: readonly number[] };
}

const f4 = (x: number) => x.toFixed(4);

/** The human-readable model card (model-card.md) from the JSON card. */
export function demoCardMarkdown(card: CardLike): string {
  const t = card.training;
  const e = card.evaluation;
  const s = t.schedule;
  const row = (name: string, d: Record<string, number>) => `| ${name} | ${f4(d.brain)} | ${f4(d.ventricles)} | ${f4(d.lesion)} |`;
  return `# SegStudio demo model

**Synthetic data only. Not for clinical use.**

- Task: brain (1), ventricles (2) and lesions (3) in SegStudio's synthetic head phantom (generated in code).
- Network: PlainConvUNet (nnU-Net 3d_fullres layout), features ${card.architecture.features_per_stage.join('/')}, ` +
    `${card.architecture.parameters} parameters; trained on ${card.architecture.training_patch_size.join('×')} patches, ` +
    `runs on ${card.architecture.inference_patch_size.join('×')} tiles.
- Training data: ${t.data}.
- Trained by SegStudio's own trainer (nnU-Net's loop: SGD, poly LR, Dice+CE with deep supervision):
  ${s.epochs} epochs × ${s.iterations_per_epoch} iterations, batch ${s.batch_size}, initial LR ${s.initial_lr}, seed ${t.seed}` +
    `${t.wall_time_min !== null ? `, ${t.wall_time_min} min` : ''}.
- Reproduce: \`${t.command}\`${t.note ? `\n- ${t.note}` : ''}
- Input: one channel, 1.5 mm isotropic (resampled), z-score normalised.

## Dice (mirroring TTA, against the phantoms' own labels)

| | brain | ventricles | lesion |
| --- | --- | --- | --- |
${row('default demo phantom', e.demo_phantom_dice)}
${row(`held-out phantoms (${e.heldout.seeds.length}), mean`, e.heldout.mean_dice)}
${row('held-out phantoms, worst', e.heldout.min_dice)}

## Limitations

It has only seen synthetic phantoms; on real scans its output is meaningless.
`;
}
