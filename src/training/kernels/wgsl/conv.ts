// WGSL convolution kernels as register-tiled implicit GEMM.
// Forward: each invocation computes TM output channels × 4 consecutive output voxels along W
// (TM·4 accumulators), looping over K = Cin·kD·kH·kW taps: per tap 4 input loads and TM weight loads feed
// 4·TM multiply-adds. Backward-data is the same gather from the other side (TM input channels × 4 voxels),
// backward-weights tiles TM output channels × kW taps per (ci, kd, kh) and reduces over N·spatial.
import type { Geom3 } from '../../engine/backend.ts';
import { entry, header, i, range, type Kernel } from './common.ts';

export const CONV_TM = 8;

function dims(g: Geom3) {
  const [ID, IH, IW] = g.in, [OD, OH, OW] = g.out, [KD, KH, KW] = g.k;
  return {
    ID, IH, IW, OD, OH, OW, KD, KH, KW,
    SD: g.stride[0], SH: g.stride[1], SW: g.stride[2],
    PD: g.pad[0], PH: g.pad[1], PW: g.pad[2],
    DD: g.dil[0], DH: g.dil[1], DW: g.dil[2],
    ISP: ID * IH * IW, OSP: OD * OH * OW, KSP: KD * KH * KW,
  };
}

/** Zero-padded load: 0 outside [0, len). */
const LOAD = (name: string, len: number) => `fn ld_${name}(base: i32, p: i32) -> f32 {
  return select(0.0, ${name}[base + clamp(p, 0i, ${i(len - 1)})], p >= 0i && p < ${i(len)});
}`;

/** y = conv(x, w) + b. Bindings: X, W, B (bias or a 1-element dummy), Y. */
export function convForwardKernel(g: Geom3, hasBias: boolean, TM = CONV_TM): Kernel {
  const d = dims(g);
  const OWT = Math.ceil(d.OW / 4), COT = Math.ceil(g.cout / TM);
  const items = COT * g.n * d.OD * d.OH * OWT;
  const ms = range(TM);
  const code = `${header([['X', 'read'], ['W', 'read'], ['B', 'read'], ['Y', 'read_write']])}
${LOAD('X', d.IW)}
${entry(items)}
  var r = idx;
  let owt = r % ${i(OWT)}; r = r / ${i(OWT)};
  let oh = r % ${i(d.OH)}; r = r / ${i(d.OH)};
  let od = r % ${i(d.OD)}; r = r / ${i(d.OD)};
  let n = r % ${i(g.n)};
  let co0 = (r / ${i(g.n)}) * ${i(TM)};
  let ow0 = owt * 4i;
${ms.map((m) => `  let wo${m} = min(co0 + ${i(m)}, ${i(g.cout - 1)}) * ${i(g.cin * d.KSP)};`).join('\n')}
${ms.map((m) => `  var a${m} = vec4<f32>(${hasBias ? `B[min(co0 + ${i(m)}, ${i(g.cout - 1)})]` : '0.0'});`).join('\n')}
  for (var ci = 0i; ci < ${i(g.cin)}; ci++) {
    let xb = (n * ${i(g.cin)} + ci) * ${i(d.ISP)};
    let wb = ci * ${i(d.KSP)};
    for (var kd = 0i; kd < ${i(d.KD)}; kd++) {
      let id = od * ${i(d.SD)} - ${i(d.PD)} + kd * ${i(d.DD)};
      if (id < 0i || id >= ${i(d.ID)}) { continue; }
      for (var kh = 0i; kh < ${i(d.KH)}; kh++) {
        let ih = oh * ${i(d.SH)} - ${i(d.PH)} + kh * ${i(d.DH)};
        if (ih < 0i || ih >= ${i(d.IH)}) { continue; }
        let rb = xb + (id * ${i(d.IH)} + ih) * ${i(d.IW)};
        let wk = wb + (kd * ${i(d.KH)} + kh) * ${i(d.KW)};
        for (var kw = 0i; kw < ${i(d.KW)}; kw++) {
          let iw = ow0 * ${i(d.SW)} - ${i(d.PW)} + kw * ${i(d.DW)};
          let xv = vec4<f32>(ld_X(rb, iw), ld_X(rb, iw + ${i(d.SW)}), ld_X(rb, iw + ${i(2 * d.SW)}), ld_X(rb, iw + ${i(3 * d.SW)}));
${ms.map((m) => `          a${m} += W[wo${m} + wk + kw] * xv;`).join('\n')}
        }
      }
    }
  }
  let yb = ((n * ${i(g.cout)} + co0) * ${i(d.OD)} + od) * ${i(d.OH * d.OW)} + oh * ${i(d.OW)} + ow0;
${ms
  .map(
    (m) => `  if (co0 + ${i(m)} < ${i(g.cout)}) {
${range(4)
  .map((j) => `    if (ow0 + ${i(j)} < ${i(d.OW)}) { Y[yb + ${i(m * d.OSP + j)}] = a${m}[${j}]; }`)
  .join('\n')}
  }`,
  )
  .join('\n')}
}`;
  return { code, items };
}

/** dx of y = conv(x, w) (gather form). Bindings: DY, W, DX. Tile: TM input channels × 4 voxels along W. */
export function convBackwardDataKernel(g: Geom3, TM = CONV_TM): Kernel {
  const d = dims(g);
  const IWT = Math.ceil(d.IW / 4), CIT = Math.ceil(g.cin / TM);
  const items = CIT * g.n * d.ID * d.IH * IWT;
  const ms = range(TM);
  // t = i + p − k·dil must be a multiple of the stride and o = t / stride inside the output
  const axis = (t: string, S: number, O: number) =>
    S === 1 ? `(${t} >= 0i && ${t} < ${i(O)})` : `(${t} >= 0i && (${t} % ${i(S)}) == 0i && ${t} / ${i(S)} < ${i(O)})`;
  const div = (t: string, S: number) => (S === 1 ? t : `${t} / ${i(S)}`);
  const code = `${header([['DY', 'read'], ['W', 'read'], ['DX', 'read_write']])}
fn ld(base: i32, t: i32) -> f32 {
  let ok = ${axis('t', d.SW, d.OW)};
  return select(0.0, DY[base + clamp(${div('t', d.SW)}, 0i, ${i(d.OW - 1)})], ok);
}
${entry(items)}
  var r = idx;
  let iwt = r % ${i(IWT)}; r = r / ${i(IWT)};
  let ih = r % ${i(d.IH)}; r = r / ${i(d.IH)};
  let id = r % ${i(d.ID)}; r = r / ${i(d.ID)};
  let n = r % ${i(g.n)};
  let ci0 = (r / ${i(g.n)}) * ${i(TM)};
  let iw0 = iwt * 4i;
${ms.map((m) => `  let wc${m} = min(ci0 + ${i(m)}, ${i(g.cin - 1)}) * ${i(d.KSP)};`).join('\n')}
${ms.map((m) => `  var a${m} = vec4<f32>(0.0);`).join('\n')}
  for (var co = 0i; co < ${i(g.cout)}; co++) {
    let db = (n * ${i(g.cout)} + co) * ${i(d.OSP)};
    let wb = co * ${i(g.cin * d.KSP)};
    for (var kd = 0i; kd < ${i(d.KD)}; kd++) {
      let td = id + ${i(d.PD)} - kd * ${i(d.DD)};
      if (!${axis('td', d.SD, d.OD)}) { continue; }
      let od = ${div('td', d.SD)};
      for (var kh = 0i; kh < ${i(d.KH)}; kh++) {
        let th = ih + ${i(d.PH)} - kh * ${i(d.DH)};
        if (!${axis('th', d.SH, d.OH)}) { continue; }
        let oh = ${div('th', d.SH)};
        let rb = db + (od * ${i(d.OH)} + oh) * ${i(d.OW)};
        let wk = wb + (kd * ${i(d.KH)} + kh) * ${i(d.KW)};
        for (var kw = 0i; kw < ${i(d.KW)}; kw++) {
          let tw = iw0 + ${i(d.PW)} - kw * ${i(d.DW)};
          let v = vec4<f32>(ld(rb, tw), ld(rb, tw + 1i), ld(rb, tw + 2i), ld(rb, tw + 3i));
${ms.map((m) => `          a${m} += W[wk + wc${m} + kw] * v;`).join('\n')}
        }
      }
    }
  }
  let xb = ((n * ${i(g.cin)} + ci0) * ${i(d.ID)} + id) * ${i(d.IH * d.IW)} + ih * ${i(d.IW)} + iw0;
${ms
  .map(
    (m) => `  if (ci0 + ${i(m)} < ${i(g.cin)}) {
${range(4)
  .map((j) => `    if (iw0 + ${i(j)} < ${i(d.IW)}) { DX[xb + ${i(m * d.ISP + j)}] = a${m}[${j}]; }`)
  .join('\n')}
  }`,
  )
  .join('\n')}
}`;
  return { code, items };
}

/**
 * dw of y = conv(x, w). Bindings: DY, X, DW. Each invocation owns TM output channels × all kW taps of one
 * (ci, kd, kh) and reduces over n, od, oh, ow.
 */
export function convBackwardWeightsKernel(g: Geom3, TM = CONV_TM): Kernel {
  const d = dims(g);
  const COT = Math.ceil(g.cout / TM);
  const items = COT * g.cin * d.KD * d.KH;
  const ms = range(TM), ks = range(d.KW);
  const code = `${header([['DY', 'read'], ['X', 'read'], ['DW', 'read_write']])}
${LOAD('X', d.IW)}
${entry(items)}
  var r = idx;
  let kh = r % ${i(d.KH)}; r = r / ${i(d.KH)};
  let kd = r % ${i(d.KD)}; r = r / ${i(d.KD)};
  let ci = r % ${i(g.cin)};
  let co0 = (r / ${i(g.cin)}) * ${i(TM)};
${ms.map((m) => `  let cc${m} = min(co0 + ${i(m)}, ${i(g.cout - 1)}) * ${i(d.OSP)};`).join('\n')}
${ms.map((m) => ks.map((k) => `  var a${m}_${k} = 0.0;`).join(' ')).join('\n')}
  for (var n = 0i; n < ${i(g.n)}; n++) {
    let xb = (n * ${i(g.cin)} + ci) * ${i(d.ISP)};
    let db = n * ${i(g.cout * d.OSP)};
    for (var od = 0i; od < ${i(d.OD)}; od++) {
      let id = od * ${i(d.SD)} - ${i(d.PD)} + kd * ${i(d.DD)};
      if (id < 0i || id >= ${i(d.ID)}) { continue; }
      for (var oh = 0i; oh < ${i(d.OH)}; oh++) {
        let ih = oh * ${i(d.SH)} - ${i(d.PH)} + kh * ${i(d.DH)};
        if (ih < 0i || ih >= ${i(d.IH)}) { continue; }
        let rb = xb + (id * ${i(d.IH)} + ih) * ${i(d.IW)};
        let ob = db + (od * ${i(d.OH)} + oh) * ${i(d.OW)};
        for (var ow = 0i; ow < ${i(d.OW)}; ow++) {
          let iw = ow * ${i(d.SW)} - ${i(d.PW)};
${ks.map((k) => `          let x${k} = ld_X(rb, iw + ${i(k * d.DW)});`).join('\n')}
${ms.map((m) => `          let g${m} = DY[ob + cc${m} + ow];\n` + ks.map((k) => `          a${m}_${k} += g${m} * x${k};`).join('\n')).join('\n')}
        }
      }
    }
  }
  let wb = ci * ${i(d.KSP)} + (kd * ${i(d.KH)} + kh) * ${i(d.KW)};
${ms
  .map(
    (m) => `  if (co0 + ${i(m)} < ${i(g.cout)}) {
${ks.map((k) => `    DW[(co0 + ${i(m)}) * ${i(g.cin * d.KSP)} + wb + ${i(k)}] = a${m}_${k};`).join('\n')}
  }`,
  )
  .join('\n')}
}`;
  return { code, items };
}

/** Partial sums of dy per (channel, chunk) — bias gradient pass 1. Bindings: DY, P. */
export function channelSumPartialKernel(n: number, c: number, sp: number, chunks: number): Kernel {
  const len = Math.ceil(sp / chunks);
  const items = c * chunks;
  const code = `${header([['DY', 'read'], ['P', 'read_write']])}
${entry(items)}
  let ch = idx / ${i(chunks)};
  let k = idx % ${i(chunks)};
  let lo = k * ${i(len)};
  let hi = min(lo + ${i(len)}, ${i(sp)});
  var s = 0.0;
  for (var b = 0i; b < ${i(n)}; b++) {
    let base = (b * ${i(c)} + ch) * ${i(sp)};
    for (var v = lo; v < hi; v++) { s += DY[base + v]; }
  }
  P[idx] = s;
}`;
  return { code, items };
}

/** out[r] = Σ_k P[r·chunks + k]. Bindings: P, OUT. */
export function rowSumKernel(rows: number, chunks: number): Kernel {
  const code = `${header([['P', 'read'], ['OUT', 'read_write']])}
${entry(rows)}
  var s = 0.0;
  for (var k = 0i; k < ${i(chunks)}; k++) { s += P[idx * ${i(chunks)} + k]; }
  OUT[idx] = s;
}`;
  return { code, items: rows };
}

// ---- padded variants: the input is first copied into a zero-padded buffer so the inner loops need no bounds
// checks (on SwiftShader every select/clamp is a SIMD instruction next to the FMAs) -------------------------

/** Dims of the zero-padded copy of a conv input: enough room that every 4-wide W tile reads inside. */
export function paddedDims(g: Geom3): [number, number, number] {
  const d = dims(g);
  const OWT = Math.ceil(d.OW / 4);
  return [
    d.ID + 2 * d.PD,
    d.IH + 2 * d.PH,
    Math.max(d.IW + 2 * d.PW, (OWT * 4 - 1) * d.SW + (d.KW - 1) * d.DW + 1),
  ];
}

/** OUT[r, d, h, w] = X[r, d − PD, h − PH, w − PW] inside, 0 outside. Bindings X, OUT. */
export function padKernel(rows: number, inS: number[], front: number[], outS: number[]): Kernel {
  const items = rows * outS[0] * outS[1] * outS[2];
  const code = `${header([['X', 'read'], ['OUT', 'read_write']])}
${entry(items)}
  var r = idx;
  let w = r % ${i(outS[2])} - ${i(front[2])}; r = r / ${i(outS[2])};
  let h = r % ${i(outS[1])} - ${i(front[1])}; r = r / ${i(outS[1])};
  let d = r % ${i(outS[0])} - ${i(front[0])};
  let row = r / ${i(outS[0])};
  let inside = w >= 0i && w < ${i(inS[2])} && h >= 0i && h < ${i(inS[1])} && d >= 0i && d < ${i(inS[0])};
  let src = ((row * ${i(inS[0])} + clamp(d, 0i, ${i(inS[0] - 1)})) * ${i(inS[1])} + clamp(h, 0i, ${i(inS[1] - 1)})) * ${i(inS[2])} + clamp(w, 0i, ${i(inS[2] - 1)});
  OUT[idx] = select(0.0, X[src], inside);
}`;
  return { code, items };
}

/** wT[ci, co, k'] = w[co, ci, KSP − 1 − k'] (transposed, spatially flipped). Bindings W, WT. */
export function flipTransposeWeightsKernel(cout: number, cin: number, ksp: number): Kernel {
  const items = cout * cin * ksp;
  const code = `${header([['W', 'read'], ['WT', 'read_write']])}
${entry(items)}
  let k = idx % ${i(ksp)};
  let r = idx / ${i(ksp)};
  let co = r % ${i(cout)};
  let ci = r / ${i(cout)};
  WT[idx] = W[(co * ${i(cin)} + ci) * ${i(ksp)} + ${i(ksp - 1)} - k];
}`;
  return { code, items };
}

/** y = conv(xPadded, w) + b with X already zero-padded to paddedDims(g). Bindings X, W, B, Y. */
export function convForwardPaddedKernel(g: Geom3, hasBias: boolean, TM = CONV_TM): Kernel {
  const d = dims(g);
  const [XD, XH, XW] = paddedDims(g);
  const OWT = Math.ceil(d.OW / 4), COT = Math.ceil(g.cout / TM);
  const items = COT * g.n * d.OD * d.OH * OWT;
  const ms = range(TM), js = range(4);
  const code = `${header([['X', 'read'], ['W', 'read'], ['B', 'read'], ['Y', 'read_write']])}
${entry(items)}
  var r = idx;
  let owt = r % ${i(OWT)}; r = r / ${i(OWT)};
  let oh = r % ${i(d.OH)}; r = r / ${i(d.OH)};
  let od = r % ${i(d.OD)}; r = r / ${i(d.OD)};
  let n = r % ${i(g.n)};
  let co0 = (r / ${i(g.n)}) * ${i(TM)};
  let ow0 = owt * 4i;
${ms.map((m) => `  let wo${m} = min(co0 + ${i(m)}, ${i(g.cout - 1)}) * ${i(g.cin * d.KSP)};`).join('\n')}
${ms.map((m) => `  var a${m} = vec4<f32>(${hasBias ? `B[min(co0 + ${i(m)}, ${i(g.cout - 1)})]` : '0.0'});`).join('\n')}
  let x0 = ((n * ${i(g.cin)} * ${i(XD)} + od * ${i(d.SD)}) * ${i(XH)} + oh * ${i(d.SH)}) * ${i(XW)} + ow0 * ${i(d.SW)};
  for (var ci = 0i; ci < ${i(g.cin)}; ci++) {
    let xb = x0 + ci * ${i(XD * XH * XW)};
    let wb = ci * ${i(d.KSP)};
    for (var kd = 0i; kd < ${i(d.KD)}; kd++) {
      for (var kh = 0i; kh < ${i(d.KH)}; kh++) {
        let rb = xb + (kd * ${i(d.DD * XH)} + kh * ${i(d.DH)}) * ${i(XW)};
        let wk = wb + (kd * ${i(d.KH)} + kh) * ${i(d.KW)};
        for (var kw = 0i; kw < ${i(d.KW)}; kw++) {
          let p = rb + kw * ${i(d.DW)};
          let xv = vec4<f32>(${js.map((j) => `X[p + ${i(j * d.SW)}]`).join(', ')});
${ms.map((m) => `          a${m} += W[wo${m} + wk + kw] * xv;`).join('\n')}
        }
      }
    }
  }
  let yb = ((n * ${i(g.cout)} + co0) * ${i(d.OD)} + od) * ${i(d.OH * d.OW)} + oh * ${i(d.OW)} + ow0;
${ms
  .map(
    (m) => `  if (co0 + ${i(m)} < ${i(g.cout)}) {
${js.map((j) => `    if (ow0 + ${i(j)} < ${i(d.OW)}) { Y[yb + ${i(m * d.OSP + j)}] = a${m}[${j}]; }`).join('\n')}
  }`,
  )
  .join('\n')}
}`;
  return { code, items };
}

/**
 * dw with X zero-padded to paddedDims(g) (no bounds checks). Bindings DY, X, DW.
 * Split-K: with `splits` > 1 the N·OD rows are divided among `splits` groups of invocations, each writing
 * its own partial dw at DW[split · |w| + …] (sum them with splitSumKernel), so small layers still spread
 * over enough invocations.
 */
export function convBackwardWeightsPaddedKernel(g: Geom3, TM = CONV_TM, splits = 1): Kernel {
  const d = dims(g);
  const [XD, XH, XW] = paddedDims(g);
  const COT = Math.ceil(g.cout / TM);
  const per = COT * g.cin * d.KD * d.KH;
  const items = per * splits;
  const rows = g.n * d.OD;
  const len = Math.ceil(rows / splits);
  const wsize = g.cout * g.cin * d.KSP;
  const ms = range(TM), ks = range(d.KW);
  const code = `${header([['DY', 'read'], ['X', 'read'], ['DW', 'read_write']])}
${entry(items)}
  let split = idx / ${i(per)};
  var r = idx % ${i(per)};
  let kh = r % ${i(d.KH)}; r = r / ${i(d.KH)};
  let kd = r % ${i(d.KD)}; r = r / ${i(d.KD)};
  let ci = r % ${i(g.cin)};
  let co0 = (r / ${i(g.cin)}) * ${i(TM)};
${ms.map((m) => `  let cc${m} = min(co0 + ${i(m)}, ${i(g.cout - 1)}) * ${i(d.OSP)};`).join('\n')}
${ms.map((m) => ks.map((k) => `  var a${m}_${k} = 0.0;`).join(' ')).join('\n')}
  let rlo = split * ${i(len)};
  let rhi = min(rlo + ${i(len)}, ${i(rows)});
  for (var row = rlo; row < rhi; row++) {
    let n = row / ${i(d.OD)};
    let od = row % ${i(d.OD)};
    let xb = ((n * ${i(g.cin)} + ci) * ${i(XD)} + kd * ${i(d.DD)} + od * ${i(d.SD)}) * ${i(XH * XW)} + kh * ${i(d.DH * XW)};
    let db = n * ${i(g.cout * d.OSP)} + od * ${i(d.OH * d.OW)};
    for (var oh = 0i; oh < ${i(d.OH)}; oh++) {
      let rb = xb + oh * ${i(d.SH * XW)};
      let ob = db + oh * ${i(d.OW)};
      for (var ow = 0i; ow < ${i(d.OW)}; ow++) {
        let p = rb + ow * ${i(d.SW)};
${ks.map((k) => `        let x${k} = X[p + ${i(k * d.DW)}];`).join('\n')}
${ms.map((m) => `        let g${m} = DY[ob + cc${m} + ow];\n` + ks.map((k) => `        a${m}_${k} += g${m} * x${k};`).join('\n')).join('\n')}
      }
    }
  }
  let wb = split * ${i(wsize)} + ci * ${i(d.KSP)} + (kd * ${i(d.KH)} + kh) * ${i(d.KW)};
${ms
  .map(
    (m) => `  if (co0 + ${i(m)} < ${i(g.cout)}) {
${ks.map((k) => `    DW[wb + (co0 + ${i(m)}) * ${i(g.cin * d.KSP)} + ${i(k)}] = a${m}_${k};`).join('\n')}
  }`,
  )
  .join('\n')}
}`;
  return { code, items };
}

/** How many split-K groups the weight gradient of `g` uses: enough invocations to fill a device (≥ 4096). */
export function dwSplits(g: Geom3, TM = CONV_TM): number {
  const per = Math.ceil(g.cout / TM) * g.cin * g.k[0] * g.k[1];
  const rows = g.n * g.out[0];
  return Math.max(1, Math.min(rows, Math.floor(4096 / per), 64));
}

/** OUT[i] = Σ_s P[s·size + i]. Bindings P, OUT. */
export function splitSumKernel(size: number, splits: number): Kernel {
  const code = `${header([['P', 'read'], ['OUT', 'read_write']])}
${entry(size)}
  var s = 0.0;
  for (var k = 0i; k < ${i(splits)}; k++) { s += P[k * ${i(size)} + idx]; }
  OUT[idx] = s;
}`;
  return { code, items: size };
}
