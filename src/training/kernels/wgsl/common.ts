// Shared pieces of the WGSL kernel generators. Every kernel is generated with its sizes baked in as
// constants (one pipeline per shape, cached by source text): the compiler then folds the index arithmetic
// and unrolls the small kernel loops, which matters a lot on SwiftShader.
//
// Conventions: one invocation per work item, workgroup size 64, a 2D grid when there are more than
// 65535 workgroups (item = gid.x + gid.y · nwg.x · 64). No workgroupBarrier anywhere (very slow on
// SwiftShader): work is register-tiled per invocation, reductions are split into partial sums.

export const WG = 64;

export interface Kernel {
  /** WGSL source; bindings are @group(0) @binding(i) in the order the backend passes buffers */
  code: string;
  /** number of work items (invocations) */
  items: number;
}

export const i = (v: number): string => `${Math.trunc(v)}i`;

export function header(bindings: Array<[string, 'read' | 'read_write']>): string {
  return bindings
    .map(([name, mode], k) => `@group(0) @binding(${k}) var<storage, ${mode}> ${name}: array<f32>;`)
    .join('\n');
}

/** Entry point prologue: `idx` (i32) is the work item, returns early past `items`. */
export function entry(items: number): string {
  return `@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let idx = i32(gid.x + gid.y * nwg.x * ${WG}u);
  if (idx >= ${i(items)}) { return; }`;
}

export function range(n: number): number[] {
  return Array.from({ length: n }, (_, k) => k);
}

/** Reductions are split in `chunks` partial sums per row so the work spreads over many invocations. */
export function chunksFor(len: number): number {
  return Math.max(1, Math.min(64, Math.ceil(len / 512)));
}
