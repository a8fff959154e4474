// CPU reference convolution kernels (plain loops, 3D geometry; 2D runs as D = 1). Accumulation is in JS
// doubles, so a Float64Array in/out gives a float64 reference for gradient checks.
// Semantics: torch.nn.functional.conv3d / conv_transpose3d (cross-correlation, zero padding).
import type { FloatArray, Geom3 } from '../../engine/backend.ts';

/** y[n,co,o] = b[co] + Σ_{ci,k} w[co,ci,k] · x[n,ci,o·s − p + k·d] */
export function convForward(x: FloatArray, w: FloatArray, b: FloatArray | null, g: Geom3, y: FloatArray): void {
  const [ID, IH, IW] = g.in;
  const [OD, OH, OW] = g.out;
  const [KD, KH, KW] = g.k;
  const [SD, SH, SW] = g.stride;
  const [PD, PH, PW] = g.pad;
  const [DD, DH, DW] = g.dil;
  const inSp = ID * IH * IW;
  const outSp = OD * OH * OW;
  const kSp = KD * KH * KW;
  for (let n = 0; n < g.n; n++) {
    for (let co = 0; co < g.cout; co++) {
      const yBase = (n * g.cout + co) * outSp;
      const bias = b ? b[co] : 0;
      for (let od = 0; od < OD; od++)
        for (let oh = 0; oh < OH; oh++)
          for (let ow = 0; ow < OW; ow++) {
            let acc = bias;
            for (let ci = 0; ci < g.cin; ci++) {
              const xBase = (n * g.cin + ci) * inSp;
              const wBase = (co * g.cin + ci) * kSp;
              for (let kd = 0; kd < KD; kd++) {
                const id = od * SD - PD + kd * DD;
                if (id < 0 || id >= ID) continue;
                for (let kh = 0; kh < KH; kh++) {
                  const ih = oh * SH - PH + kh * DH;
                  if (ih < 0 || ih >= IH) continue;
                  const xRow = xBase + (id * IH + ih) * IW;
                  const wRow = wBase + (kd * KH + kh) * KW;
                  for (let kw = 0; kw < KW; kw++) {
                    const iw = ow * SW - PW + kw * DW;
                    if (iw < 0 || iw >= IW) continue;
                    acc += w[wRow + kw] * x[xRow + iw];
                  }
                }
              }
            }
            y[yBase + (od * OH + oh) * OW + ow] = acc;
          }
    }
  }
}

/**
 * Calls `body(oRow, xRow, wRow)` for every (n, co, ci, od, kd, oh, kh) whose input row is inside the volume:
 * the output row, input row and weight row offsets; the kw/ow loops are left to the caller.
 */
function convTaps(g: Geom3, body: (oRow: number, xRow: number, wRow: number) => void): void {
  const [ID, IH, IW] = g.in;
  const [OD, OH, OW] = g.out;
  const [KD, KH, KW] = g.k;
  const inSp = ID * IH * IW, outSp = OD * OH * OW, kSp = KD * KH * KW;
  for (let n = 0; n < g.n; n++)
    for (let co = 0; co < g.cout; co++)
      for (let ci = 0; ci < g.cin; ci++) {
        const xBase = (n * g.cin + ci) * inSp;
        const wBase = (co * g.cin + ci) * kSp;
        for (let od = 0; od < OD; od++)
          for (let kd = 0; kd < KD; kd++) {
            const id = od * g.stride[0] - g.pad[0] + kd * g.dil[0];
            if (id < 0 || id >= ID) continue;
            for (let oh = 0; oh < OH; oh++)
              for (let kh = 0; kh < KH; kh++) {
                const ih = oh * g.stride[1] - g.pad[1] + kh * g.dil[1];
                if (ih < 0 || ih >= IH) continue;
                const oRow = (n * g.cout + co) * outSp + (od * OH + oh) * OW;
                body(oRow, xBase + (id * IH + ih) * IW, wBase + (kd * KH + kh) * KW);
              }
          }
      }
}

/** dx[n,ci,i] = Σ over taps hitting i of w · dy (the adjoint of convForward). dx is overwritten. */
export function convBackwardData(dy: FloatArray, w: FloatArray, g: Geom3, dx: FloatArray): void {
  dx.fill(0);
  const IW = g.in[2], OW = g.out[2], KW = g.k[2], SW = g.stride[2], PW = g.pad[2], DW = g.dil[2];
  convTaps(g, (oRow, xRow, wRow) => {
    for (let kw = 0; kw < KW; kw++) {
      const wv = w[wRow + kw];
      for (let ow = 0; ow < OW; ow++) {
        const iw = ow * SW - PW + kw * DW;
        if (iw >= 0 && iw < IW) dx[xRow + iw] += wv * dy[oRow + ow];
      }
    }
  });
}

/** dw[co,ci,k] = Σ_{n,o} dy[n,co,o] · x[n,ci,o·s − p + k·d]. dw is overwritten. */
export function convBackwardWeights(dy: FloatArray, x: FloatArray, g: Geom3, dw: FloatArray): void {
  const acc = new Float64Array(dw.length);
  const IW = g.in[2], OW = g.out[2], KW = g.k[2], SW = g.stride[2], PW = g.pad[2], DW = g.dil[2];
  convTaps(g, (oRow, xRow, wRow) => {
    for (let kw = 0; kw < KW; kw++) {
      let s = 0;
      for (let ow = 0; ow < OW; ow++) {
        const iw = ow * SW - PW + kw * DW;
        if (iw >= 0 && iw < IW) s += dy[oRow + ow] * x[xRow + iw];
      }
      acc[wRow + kw] += s;
    }
  });
  for (let i = 0; i < dw.length; i++) dw[i] = acc[i];
}

/** db[c] = Σ_{n, spatial} dy[n,c,...] */
export function biasGrad(dy: FloatArray, n: number, c: number, sp: number, db: FloatArray): void {
  for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * sp;
      for (let i = 0; i < sp; i++) s += dy[base + i];
    }
    db[ch] = s;
  }
}

/** Geometry of a kernel == stride transposed conv, 3D-padded. */
export interface TGeom3 {
  n: number;
  cin: number;
  cout: number;
  in: [number, number, number];
  s: [number, number, number];
}

/** y[n,co,i·s + k] = b[co] + Σ_ci x[n,ci,i] · w[ci,co,k]  (torch ConvTranspose with kernel == stride) */
export function convTransposeForward(x: FloatArray, w: FloatArray, b: FloatArray | null, g: TGeom3, y: FloatArray): void {
  const [ID, IH, IW] = g.in;
  const [SD, SH, SW] = g.s;
  const OD = ID * SD, OH = IH * SH, OW = IW * SW;
  const inSp = ID * IH * IW, outSp = OD * OH * OW, kSp = SD * SH * SW;
  for (let n = 0; n < g.n; n++)
    for (let co = 0; co < g.cout; co++)
      for (let od = 0; od < OD; od++)
        for (let oh = 0; oh < OH; oh++)
          for (let ow = 0; ow < OW; ow++) {
            const i = (Math.floor(od / SD) * IH + Math.floor(oh / SH)) * IW + Math.floor(ow / SW);
            const k = ((od % SD) * SH + (oh % SH)) * SW + (ow % SW);
            let acc = b ? b[co] : 0;
            for (let ci = 0; ci < g.cin; ci++) acc += x[(n * g.cin + ci) * inSp + i] * w[(ci * g.cout + co) * kSp + k];
            y[(n * g.cout + co) * outSp + (od * OH + oh) * OW + ow] = acc;
          }
}

export function convTransposeBackwardData(dy: FloatArray, w: FloatArray, g: TGeom3, dx: FloatArray): void {
  const [ID, IH, IW] = g.in;
  const [SD, SH, SW] = g.s;
  const OH = IH * SH, OW = IW * SW;
  const inSp = ID * IH * IW, outSp = inSp * SD * SH * SW, kSp = SD * SH * SW;
  for (let n = 0; n < g.n; n++)
    for (let ci = 0; ci < g.cin; ci++)
      for (let id = 0; id < ID; id++)
        for (let ih = 0; ih < IH; ih++)
          for (let iw = 0; iw < IW; iw++) {
            let acc = 0;
            for (let co = 0; co < g.cout; co++)
              for (let kd = 0; kd < SD; kd++)
                for (let kh = 0; kh < SH; kh++)
                  for (let kw = 0; kw < SW; kw++) {
                    const o = ((id * SD + kd) * OH + ih * SH + kh) * OW + iw * SW + kw;
                    acc += dy[(n * g.cout + co) * outSp + o] * w[(ci * g.cout + co) * kSp + (kd * SH + kh) * SW + kw];
                  }
            dx[(n * g.cin + ci) * inSp + (id * IH + ih) * IW + iw] = acc;
          }
}

export function convTransposeBackwardWeights(dy: FloatArray, x: FloatArray, g: TGeom3, dw: FloatArray): void {
  const [ID, IH, IW] = g.in;
  const [SD, SH, SW] = g.s;
  const OH = IH * SH, OW = IW * SW;
  const inSp = ID * IH * IW, outSp = inSp * SD * SH * SW, kSp = SD * SH * SW;
  for (let ci = 0; ci < g.cin; ci++)
    for (let co = 0; co < g.cout; co++)
      for (let kd = 0; kd < SD; kd++)
        for (let kh = 0; kh < SH; kh++)
          for (let kw = 0; kw < SW; kw++) {
            let acc = 0;
            for (let n = 0; n < g.n; n++)
              for (let id = 0; id < ID; id++)
                for (let ih = 0; ih < IH; ih++)
                  for (let iw = 0; iw < IW; iw++) {
                    const o = ((id * SD + kd) * OH + ih * SH + kh) * OW + iw * SW + kw;
                    acc += x[(n * g.cin + ci) * inSp + (id * IH + ih) * IW + iw] * dy[(n * g.cout + co) * outSp + o];
                  }
            dw[(ci * g.cout + co) * kSp + (kd * SH + kh) * SW + kw] = acc;
          }
}
