// WGSL transposed convolution with kernel == stride (no overlap): every output voxel o has exactly one
// source voxel i = o / s and one tap k = o % s, so forward and both backward passes are small GEMMs.
import type { TGeom3 } from '../cpu/conv.ts';
import { entry, header, i, range, type Kernel } from './common.ts';

const TM = 8;

function dims(g: TGeom3) {
  const [ID, IH, IW] = g.in, [SD, SH, SW] = g.s;
  const OD = ID * SD, OH = IH * SH, OW = IW * SW;
  return { ID, IH, IW, SD, SH, SW, OD, OH, OW, ISP: ID * IH * IW, OSP: OD * OH * OW, KSP: SD * SH * SW };
}

/** y[n,co,o] = b[co] + Σ_ci x[n,ci,o/s]·w[ci,co,o%s]. Bindings X, W, B, Y. TM channels × 4 voxels along W. */
export function convTransposeForwardKernel(g: TGeom3, hasBias: boolean): Kernel {
  const d = dims(g);
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
  let xrow = (od / ${i(d.SD)} * ${i(d.IH)} + oh / ${i(d.SH)}) * ${i(d.IW)};
  let kb = ((od % ${i(d.SD)}) * ${i(d.SH)} + oh % ${i(d.SH)}) * ${i(d.SW)};
${js.map((j) => `  let iw${j} = min((ow0 + ${i(j)}) / ${i(d.SW)}, ${i(d.IW - 1)});\n  let kw${j} = kb + (ow0 + ${i(j)}) % ${i(d.SW)};`).join('\n')}
${ms.map((m) => `  let cw${m} = min(co0 + ${i(m)}, ${i(g.cout - 1)}) * ${i(d.KSP)};`).join('\n')}
${ms.map((m) => `  var a${m} = vec4<f32>(${hasBias ? `B[min(co0 + ${i(m)}, ${i(g.cout - 1)})]` : '0.0'});`).join('\n')}
  for (var ci = 0i; ci < ${i(g.cin)}; ci++) {
    let xb = (n * ${i(g.cin)} + ci) * ${i(d.ISP)} + xrow;
    let xv = vec4<f32>(${js.map((j) => `X[xb + iw${j}]`).join(', ')});
    let wb = ci * ${i(g.cout * d.KSP)};
${ms.map((m) => `    a${m} += xv * vec4<f32>(${js.map((j) => `W[wb + cw${m} + kw${j}]`).join(', ')});`).join('\n')}
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

/** dx[n,ci,i] = Σ_{co,k} dy[n,co,i·s+k]·w[ci,co,k]. Bindings DY, W, DX. TM channels × 4 voxels along W. */
export function convTransposeBackwardDataKernel(g: TGeom3): Kernel {
  const d = dims(g);
  const IWT = Math.ceil(d.IW / 4), CIT = Math.ceil(g.cin / TM);
  const items = CIT * g.n * d.ID * d.IH * IWT;
  const ms = range(TM), js = range(4);
  const code = `${header([['DY', 'read'], ['W', 'read'], ['DX', 'read_write']])}
${entry(items)}
  var r = idx;
  let iwt = r % ${i(IWT)}; r = r / ${i(IWT)};
  let ih = r % ${i(d.IH)}; r = r / ${i(d.IH)};
  let id = r % ${i(d.ID)}; r = r / ${i(d.ID)};
  let n = r % ${i(g.n)};
  let ci0 = (r / ${i(g.n)}) * ${i(TM)};
  let iw0 = iwt * 4i;
${js.map((j) => `  let ow${j} = min(iw0 + ${i(j)}, ${i(d.IW - 1)}) * ${i(d.SW)};`).join('\n')}
${ms.map((m) => `  let cw${m} = min(ci0 + ${i(m)}, ${i(g.cin - 1)}) * ${i(g.cout * d.KSP)};`).join('\n')}
${ms.map((m) => `  var a${m} = vec4<f32>(0.0);`).join('\n')}
  for (var co = 0i; co < ${i(g.cout)}; co++) {
    let db = (n * ${i(g.cout)} + co) * ${i(d.OSP)};
    for (var kd = 0i; kd < ${i(d.SD)}; kd++) {
      for (var kh = 0i; kh < ${i(d.SH)}; kh++) {
        let rb = db + ((id * ${i(d.SD)} + kd) * ${i(d.OH)} + ih * ${i(d.SH)} + kh) * ${i(d.OW)};
        let wk = co * ${i(d.KSP)} + (kd * ${i(d.SH)} + kh) * ${i(d.SW)};
        for (var kw = 0i; kw < ${i(d.SW)}; kw++) {
          let v = vec4<f32>(${js.map((j) => `DY[rb + ow${j} + kw]`).join(', ')});
${ms.map((m) => `          a${m} += W[cw${m} + wk + kw] * v;`).join('\n')}
        }
      }
    }
  }
  let xb = ((n * ${i(g.cin)} + ci0) * ${i(d.ID)} + id) * ${i(d.IH * d.IW)} + ih * ${i(d.IW)} + iw0;
${ms
  .map(
    (m) => `  if (ci0 + ${i(m)} < ${i(g.cin)}) {
${js.map((j) => `    if (iw0 + ${i(j)} < ${i(d.IW)}) { DX[xb + ${i(m * d.ISP + j)}] = a${m}[${j}]; }`).join('\n')}
  }`,
  )
  .join('\n')}
}`;
  return { code, items };
}

/** dw[ci,co,k] = Σ_{n,i} x[n,ci,i]·dy[n,co,i·s+k]. Bindings DY, X, DW. 4 input channels × all taps. */
export function convTransposeBackwardWeightsKernel(g: TGeom3): Kernel {
  const d = dims(g);
  const T = 4;
  const CIT = Math.ceil(g.cin / T);
  const items = CIT * g.cout;
  const ms = range(T), ks = range(d.KSP);
  const tap = (k: number) => {
    const kd = Math.floor(k / (d.SH * d.SW)), kh = Math.floor(k / d.SW) % d.SH, kw = k % d.SW;
    return (kd * d.OH + kh) * d.OW + kw;
  };
  const code = `${header([['DY', 'read'], ['X', 'read'], ['DW', 'read_write']])}
${entry(items)}
  let co = idx % ${i(g.cout)};
  let ci0 = (idx / ${i(g.cout)}) * ${i(T)};
${ms.map((m) => `  let cx${m} = min(ci0 + ${i(m)}, ${i(g.cin - 1)}) * ${i(d.ISP)};`).join('\n')}
${ms.map((m) => ks.map((k) => `  var a${m}_${k} = 0.0;`).join(' ')).join('\n')}
  for (var n = 0i; n < ${i(g.n)}; n++) {
    let xb = n * ${i(g.cin * d.ISP)};
    let db = (n * ${i(g.cout)} + co) * ${i(d.OSP)};
    for (var id = 0i; id < ${i(d.ID)}; id++) {
      for (var ih = 0i; ih < ${i(d.IH)}; ih++) {
        for (var iw = 0i; iw < ${i(d.IW)}; iw++) {
          let xi = xb + (id * ${i(d.IH)} + ih) * ${i(d.IW)} + iw;
          let o = db + (id * ${i(d.SD)} * ${i(d.OH)} + ih * ${i(d.SH)}) * ${i(d.OW)} + iw * ${i(d.SW)};
${ks.map((k) => `          let g${k} = DY[o + ${i(tap(k))}];`).join('\n')}
${ms.map((m) => `          let x${m} = X[xi + cx${m}];\n` + ks.map((k) => `          a${m}_${k} += x${m} * g${k};`).join('\n')).join('\n')}
        }
      }
    }
  }
${ms
  .map(
    (m) => `  if (ci0 + ${i(m)} < ${i(g.cin)}) {
${ks.map((k) => `    DW[((ci0 + ${i(m)}) * ${i(g.cout)} + co) * ${i(d.KSP)} + ${i(k)}] = a${m}_${k};`).join('\n')}
  }`,
  )
  .join('\n')}
}`;
  return { code, items };
}
