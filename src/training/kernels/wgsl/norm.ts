// WGSL InstanceNorm (forward/backward) as split reductions: partial sums per (n·c, chunk) → per-row
// statistics → an elementwise pass. Two-pass variance (mean first) for float32 accuracy.
import { entry, header, i, type Kernel } from './common.ts';

/** P[row·chunks + k] = Σ over the chunk of x (mode 'sum') or (x − mean[row])² (mode 'sq'). Bindings X, M, P. */
export function rowPartialKernel(rows: number, sp: number, chunks: number, mode: 'sum' | 'sq'): Kernel {
  const len = Math.ceil(sp / chunks);
  const items = rows * chunks;
  const code = `${header([['X', 'read'], ['M', 'read'], ['P', 'read_write']])}
${entry(items)}
  let row = idx / ${i(chunks)};
  let k = idx % ${i(chunks)};
  let lo = k * ${i(len)};
  let hi = min(lo + ${i(len)}, ${i(sp)});
  let base = row * ${i(sp)};
  ${mode === 'sq' ? 'let m = M[row];' : ''}
  var s = 0.0;
  for (var v = lo; v < hi; v++) {
    ${mode === 'sq' ? 'let t = X[base + v] - m; s += t * t;' : 's += X[base + v];'}
  }
  P[idx] = s;
}`;
  return { code, items };
}

/** MEAN[row] = Σ partials / sp (mode 'mean') or INV[row] = 1/sqrt(Σ partials / sp + eps). Bindings P, OUT. */
export function rowFinalizeKernel(rows: number, sp: number, chunks: number, mode: 'mean' | 'invstd', eps: number): Kernel {
  const code = `${header([['P', 'read'], ['OUT', 'read_write']])}
${entry(rows)}
  var s = 0.0;
  for (var k = 0i; k < ${i(chunks)}; k++) { s += P[idx * ${i(chunks)} + k]; }
  ${mode === 'mean' ? `OUT[idx] = s / ${(sp).toFixed(1)};` : `OUT[idx] = inverseSqrt(s / ${sp.toFixed(1)} + ${eps.toExponential()});`}
}`;
  return { code, items: rows };
}

/** y = (x − mean)·invstd·γ + β. Bindings X, MEAN, INV, G, BT, Y. */
export function normApplyKernel(n: number, c: number, sp: number): Kernel {
  const items = n * c * sp;
  const code = `${header([['X', 'read'], ['MEAN', 'read'], ['INV', 'read'], ['G', 'read'], ['BT', 'read'], ['Y', 'read_write']])}
${entry(items)}
  let row = idx / ${i(sp)};
  let ch = row % ${i(c)};
  Y[idx] = (X[idx] - MEAN[row]) * INV[row] * G[ch] + BT[ch];
}`;
  return { code, items };
}

/** Partials of Σdy and Σdy·x̂ per (row, chunk), interleaved [2·(row·chunks + k) + 0/1]. Bindings DY, X, MEAN, INV, P. */
export function normBackwardPartialKernel(rows: number, sp: number, chunks: number): Kernel {
  const len = Math.ceil(sp / chunks);
  const items = rows * chunks;
  const code = `${header([['DY', 'read'], ['X', 'read'], ['MEAN', 'read'], ['INV', 'read'], ['P', 'read_write']])}
${entry(items)}
  let row = idx / ${i(chunks)};
  let k = idx % ${i(chunks)};
  let lo = k * ${i(len)};
  let hi = min(lo + ${i(len)}, ${i(sp)});
  let base = row * ${i(sp)};
  let m = MEAN[row];
  let is = INV[row];
  var s0 = 0.0;
  var s1 = 0.0;
  for (var v = lo; v < hi; v++) {
    let g = DY[base + v];
    s0 += g;
    s1 += g * (X[base + v] - m) * is;
  }
  P[2i * idx] = s0;
  P[2i * idx + 1i] = s1;
}`;
  return { code, items };
}

/** S[2·row + 0/1] = Σ_k partials. Bindings P, S. */
export function normBackwardReduceKernel(rows: number, chunks: number): Kernel {
  const code = `${header([['P', 'read'], ['S', 'read_write']])}
${entry(rows)}
  var s0 = 0.0;
  var s1 = 0.0;
  for (var k = 0i; k < ${i(chunks)}; k++) {
    s0 += P[2i * (idx * ${i(chunks)} + k)];
    s1 += P[2i * (idx * ${i(chunks)} + k) + 1i];
  }
  S[2i * idx] = s0;
  S[2i * idx + 1i] = s1;
}`;
  return { code, items: rows };
}

/** dx = γ·invstd/M·(M·dy − Σdy − x̂·Σdy·x̂). Bindings DY, X, MEAN, INV, G, S, DX. */
export function normBackwardApplyKernel(n: number, c: number, sp: number): Kernel {
  const items = n * c * sp;
  const code = `${header([['DY', 'read'], ['X', 'read'], ['MEAN', 'read'], ['INV', 'read'], ['G', 'read'], ['S', 'read'], ['DX', 'read_write']])}
${entry(items)}
  let row = idx / ${i(sp)};
  let ch = row % ${i(c)};
  let is = INV[row];
  let xh = (X[idx] - MEAN[row]) * is;
  DX[idx] = G[ch] * is / ${sp.toFixed(1)} * (${sp.toFixed(1)} * DY[idx] - S[2i * row] - xh * S[2i * row + 1i]);
}`;
  return { code, items };
}

/** dγ[c] = Σ_n S[2(n·C+c)+1], dβ[c] = Σ_n S[2(n·C+c)]. Bindings S, DG, DB. */
export function normParamGradKernel(n: number, c: number): Kernel {
  const code = `${header([['S', 'read'], ['DG', 'read_write'], ['DB', 'read_write']])}
${entry(c)}
  var g = 0.0;
  var b = 0.0;
  for (var k = 0i; k < ${i(n)}; k++) {
    b += S[2i * (k * ${i(c)} + idx)];
    g += S[2i * (k * ${i(c)} + idx) + 1i];
  }
  DG[idx] = g;
  DB[idx] = b;
}`;
  return { code, items: c };
}
