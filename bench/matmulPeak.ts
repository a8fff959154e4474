// Register-tiled matmul microbenchmark: the "practical peak" of a WebGPU adapter for the kernels' style
// (no shared memory, no barriers; each invocation owns TM×4 outputs, vec4 loads along N).
// Used by bench/training-step.bench.ts to say how far the training kernels are from what the adapter can do.

export function matmulKernel(M: number, N: number, K: number, TM: number): string {
  const rows = Array.from({ length: TM }, (_, r) => r);
  return `@group(0) @binding(0) var<storage, read> A: array<f32>;
@group(0) @binding(1) var<storage, read> B: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> C: array<vec4<f32>>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let idx = i32(gid.x);
  let n4 = idx % ${N / 4}i;
  let m0 = (idx / ${N / 4}i) * ${TM}i;
  if (m0 >= ${M}i) { return; }
${rows.map((r) => `  var c${r} = vec4<f32>(0.0);`).join('\n')}
  for (var k = 0i; k < ${K}i; k++) {
    let b = B[k * ${N / 4}i + n4];
${rows.map((r) => `    c${r} += A[(m0 + ${r}i) * ${K}i + k] * b;`).join('\n')}
  }
${rows.map((r) => `  C[(m0 + ${r}i) * ${N / 4}i + n4] = c${r};`).join('\n')}
}`;
}

/** Median GFLOP/s of an M×K by K×N matmul over `repeats` runs (after one warm-up). */
export async function measureMatmulPeak(device: GPUDevice, M = 512, N = 512, K = 512, TM = 8, repeats = 3): Promise<number> {
  const mk = (n: number) => {
    const b = device.createBuffer({ size: n * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(b, 0, new Float32Array(n).map(() => Math.random()));
    return b;
  };
  const a = mk(M * K), b = mk(K * N), c = mk(M * N);
  const module = device.createShaderModule({ code: matmulKernel(M, N, K, TM) });
  const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const bg = device.createBindGroup({
    layout: pipeline.getBindGroupLayout(0),
    entries: [a, b, c].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const items = (M / TM) * (N / 4);
  const once = async () => {
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bg);
    pass.dispatchWorkgroups(Math.ceil(items / 64));
    pass.end();
    device.queue.submit([enc.finish()]);
    await device.queue.onSubmittedWorkDone();
  };
  await once();
  const rates: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    await once();
    rates.push((2 * M * N * K) / ((performance.now() - t) / 1000) / 1e9);
  }
  a.destroy();
  b.destroy();
  c.destroy();
  rates.sort((x, y) => x - y);
  return rates[rates.length >> 1];
}
