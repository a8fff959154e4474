// WGSL softmax and the CE + soft-Dice per-voxel work: partial sums per (n, chunk) for the statistics, and
// the fused softmax/Dice/CE backward per voxel.
import { entry, header, i, range, type Kernel } from './common.ts';

/** Softmax over channels. Bindings X, Y. */
export function softmaxKernel(n: number, c: number, sp: number): Kernel {
  const items = n * sp;
  const ks = range(c);
  return {
    items,
    code: `${header([['X', 'read'], ['Y', 'read_write']])}
${entry(items)}
  let v = idx % ${i(sp)};
  let base = (idx / ${i(sp)}) * ${i(c * sp)} + v;
${ks.map((k) => `  let l${k} = X[base + ${i(k * sp)}];`).join('\n')}
  let m = max(${ks.map((k) => `l${k}`).reduce((a, b) => `max(${a}, ${b})`)}, -3.0e38);
${ks.map((k) => `  let e${k} = exp(l${k} - m);`).join('\n')}
  let s = ${ks.map((k) => `e${k}`).join(' + ')};
${ks.map((k) => `  Y[base + ${i(k * sp)}] = e${k} / s;`).join('\n')}
}`,
  };
}

/**
 * Per (n, chunk) partial sums, record of 3C + 2 floats: [ceSum, nValid, tp[C], sumPred[C], sumGt[C]].
 * Bindings L (logits), T (labels), P.
 */
export function segLossStatsKernel(n: number, c: number, sp: number, chunks: number, ignoreLabel: number | null): Kernel {
  const len = Math.ceil(sp / chunks);
  const items = n * chunks;
  const R = 3 * c + 2;
  const ks = range(c);
  return {
    items,
    code: `${header([['L', 'read'], ['T', 'read'], ['P', 'read_write']])}
${entry(items)}
  let b = idx / ${i(chunks)};
  let k = idx % ${i(chunks)};
  let lo = k * ${i(len)};
  let hi = min(lo + ${i(len)}, ${i(sp)});
  var ce = 0.0;
  var nv = 0.0;
  var tp: array<f32, ${c}>;
  var pr: array<f32, ${c}>;
  var gt: array<f32, ${c}>;
  for (var v = lo; v < hi; v++) {
    let y = i32(round(T[b * ${i(sp)} + v]));
    ${ignoreLabel === null ? '' : `if (y == ${i(ignoreLabel)}) { continue; }`}
    let base = b * ${i(c * sp)} + v;
${ks.map((q) => `    let l${q} = L[base + ${i(q * sp)}];`).join('\n')}
    let m = ${ks.map((q) => `l${q}`).reduce((a, bb) => `max(${a}, ${bb})`)};
${ks.map((q) => `    let e${q} = exp(l${q} - m);`).join('\n')}
    let s = ${ks.map((q) => `e${q}`).join(' + ')};
    let inv = 1.0 / s;
    var ly = 0.0;
${ks.map((q) => `    pr[${q}] += e${q} * inv;\n    if (y == ${i(q)}) { ly = l${q}; tp[${q}] += e${q} * inv; gt[${q}] += 1.0; }`).join('\n')}
    ce += log(s) + m - ly;
    nv += 1.0;
  }
  let o = idx * ${i(R)};
  P[o] = ce;
  P[o + 1i] = nv;
${ks.map((q) => `  P[o + ${i(2 + q)}] = tp[${q}];\n  P[o + ${i(2 + c + q)}] = pr[${q}];\n  P[o + ${i(2 + 2 * c + q)}] = gt[${q}];`).join('\n')}
}`,
  };
}

/**
 * dlogits per voxel. Bindings L, T, CF = [ceScale, dTp[N·C], dSumPred[N·C]], DX.
 */
export function segLossBackwardKernel(n: number, c: number, sp: number, ignoreLabel: number | null): Kernel {
  const items = n * sp;
  const ks = range(c);
  return {
    items,
    code: `${header([['L', 'read'], ['T', 'read'], ['CF', 'read'], ['DX', 'read_write']])}
${entry(items)}
  let v = idx % ${i(sp)};
  let b = idx / ${i(sp)};
  let base = b * ${i(c * sp)} + v;
  let y = i32(round(T[idx]));
  ${
    ignoreLabel === null
      ? ''
      : `if (y == ${i(ignoreLabel)}) {
${ks.map((q) => `    DX[base + ${i(q * sp)}] = 0.0;`).join('\n')}
    return;
  }`
  }
${ks.map((q) => `  let l${q} = L[base + ${i(q * sp)}];`).join('\n')}
  let m = ${ks.map((q) => `l${q}`).reduce((a, bb) => `max(${a}, ${bb})`)};
${ks.map((q) => `  let e${q} = exp(l${q} - m);`).join('\n')}
  let inv = 1.0 / (${ks.map((q) => `e${q}`).join(' + ')});
  let ce = CF[0];
${ks.map((q) => `  let p${q} = e${q} * inv;\n  let h${q} = select(0.0, 1.0, y == ${i(q)});\n  let d${q} = h${q} * CF[${i(1)} + b * ${i(c)} + ${i(q)}] + CF[${i(1 + n * c)} + b * ${i(c)} + ${i(q)}];`).join('\n')}
  let dot = ${ks.map((q) => `p${q} * d${q}`).join(' + ')};
${ks.map((q) => `  DX[base + ${i(q * sp)}] = p${q} * (d${q} - dot) + ce * (p${q} - h${q});`).join('\n')}
}`,
  };
}
