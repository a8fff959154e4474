// WGSL elementwise kernels: LeakyReLU, add/scale/axpy, channel concat/split, SGD, squared-norm partials,
// nearest-exact label downsampling.
import { chunksFor, entry, header, i, type Kernel } from './common.ts';

const f = (v: number) => {
  const s = Math.fround(v).toPrecision(9);
  return /[.eE]/.test(s) ? s : `${s}.0`;
};

export function leakyReluKernel(size: number, slope: number): Kernel {
  return {
    items: size,
    code: `${header([['X', 'read'], ['Y', 'read_write']])}
${entry(size)}
  let x = X[idx];
  Y[idx] = select(x * ${f(slope)}, x, x > 0.0);
}`,
  };
}

/** dx = dy·(x > 0 ? 1 : slope). Bindings DY, X, DX. */
export function leakyReluBackwardKernel(size: number, slope: number): Kernel {
  return {
    items: size,
    code: `${header([['DY', 'read'], ['X', 'read'], ['DX', 'read_write']])}
${entry(size)}
  let g = DY[idx];
  DX[idx] = select(g * ${f(slope)}, g, X[idx] > 0.0);
}`,
  };
}

export function addKernel(size: number): Kernel {
  return {
    items: size,
    code: `${header([['A', 'read'], ['B', 'read'], ['Y', 'read_write']])}
${entry(size)}
  Y[idx] = A[idx] + B[idx];
}`,
  };
}

/** Y = s·A (s in a 1-element uniform-like storage buffer so it needs no recompilation). Bindings A, S, Y. */
export function scaleKernel(size: number): Kernel {
  return {
    items: size,
    code: `${header([['A', 'read'], ['S', 'read'], ['Y', 'read_write']])}
${entry(size)}
  Y[idx] = A[idx] * S[0];
}`,
  };
}

/** Y += S[0]·X. Bindings X, S, Y. */
export function axpyKernel(size: number): Kernel {
  return {
    items: size,
    code: `${header([['X', 'read'], ['S', 'read'], ['Y', 'read_write']])}
${entry(size)}
  Y[idx] = Y[idx] + S[0] * X[idx];
}`,
  };
}

/** Concat along channels: OUT [n, ca+cb, sp]. Bindings A, B, OUT. */
export function concatKernel(n: number, ca: number, cb: number, sp: number): Kernel {
  const items = n * (ca + cb) * sp;
  return {
    items,
    code: `${header([['A', 'read'], ['B', 'read'], ['OUT', 'read_write']])}
${entry(items)}
  let v = idx % ${i(sp)};
  let r = idx / ${i(sp)};
  let c = r % ${i(ca + cb)};
  let b = r / ${i(ca + cb)};
  if (c < ${i(ca)}) {
    OUT[idx] = A[(b * ${i(ca)} + c) * ${i(sp)} + v];
  } else {
    OUT[idx] = B[(b * ${i(cb)} + c - ${i(ca)}) * ${i(sp)} + v];
  }
}`,
  };
}

/** Channel slice [c0, c0+cs) of T [n, ct, sp] into OUT [n, cs, sp]. Bindings T, OUT. */
export function sliceChannelsKernel(n: number, ct: number, c0: number, cs: number, sp: number): Kernel {
  const items = n * cs * sp;
  return {
    items,
    code: `${header([['T', 'read'], ['OUT', 'read_write']])}
${entry(items)}
  let v = idx % ${i(sp)};
  let r = idx / ${i(sp)};
  let c = r % ${i(cs)};
  let b = r / ${i(cs)};
  OUT[idx] = T[(b * ${i(ct)} + c + ${i(c0)}) * ${i(sp)} + v];
}`,
  };
}

/**
 * torch.optim.SGD step in place. Bindings P (rw), G, BUF (rw), H = [lr, momentum, wd, gradScale, first, nesterov].
 */
export function sgdKernel(size: number): Kernel {
  return {
    items: size,
    code: `@group(0) @binding(0) var<storage, read_write> P: array<f32>;
@group(0) @binding(1) var<storage, read> G: array<f32>;
@group(0) @binding(2) var<storage, read_write> BUF: array<f32>;
@group(0) @binding(3) var<storage, read> H: array<f32>;
${entry(size)}
  let p = P[idx];
  let g = G[idx] * H[3] + H[2] * p;
  let b = select(H[1] * BUF[idx] + g, g, H[4] > 0.5);
  BUF[idx] = b;
  let d = select(b, g + H[1] * b, H[5] > 0.5);
  P[idx] = p - H[0] * d;
}`,
  };
}

/** Partial Σx² in `chunksFor(size)` chunks, written at P[offset + k]. Bindings X, P. */
export function sumSquaresPartialKernel(size: number, offset: number): Kernel {
  const chunks = chunksFor(size);
  const len = Math.ceil(size / chunks);
  return {
    items: chunks,
    code: `${header([['X', 'read'], ['P', 'read_write']])}
${entry(chunks)}
  let lo = idx * ${i(len)};
  let hi = min(lo + ${i(len)}, ${i(size)});
  var s = 0.0;
  for (var v = lo; v < hi; v++) { let x = X[v]; s += x * x; }
  P[${i(offset)} + idx] = s;
}`,
  };
}

/** Nearest-exact resize of [rows, in3] → [rows, out3]. Bindings T, OUT. */
export function downsampleSegKernel(rows: number, inS: number[], outS: number[]): Kernel {
  const items = rows * outS[0] * outS[1] * outS[2];
  // src = min(floor((dst + 0.5)·in/out), in − 1) in exact integer arithmetic: floor((2·dst + 1)·in / (2·out))
  const src = (a: number, v: string) => `min(((2i * ${v} + 1i) * ${i(inS[a])}) / ${i(2 * outS[a])}, ${i(inS[a] - 1)})`;
  return {
    items,
    code: `${header([['T', 'read'], ['OUT', 'read_write']])}
${entry(items)}
  var r = idx;
  let w = r % ${i(outS[2])}; r = r / ${i(outS[2])};
  let h = r % ${i(outS[1])}; r = r / ${i(outS[1])};
  let d = r % ${i(outS[0])};
  let b = r / ${i(outS[0])};
  OUT[idx] = T[((b * ${i(inS[0])} + ${src(0, 'd')}) * ${i(inS[1])} + ${src(1, 'h')}) * ${i(inS[2])} + ${src(2, 'w')}];
}`,
  };
}
