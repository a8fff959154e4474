// Voxel order mapping between a NIfTI file (x fastest) and NiiVue's RAS-reoriented drawing bitmap.

/**
 * For each voxel in file order (x fastest), its index in NiiVue's drawing bitmap, which is stored in the
 * background volume's RAS-reoriented order. Same convention NiiVue applies in loadDrawing() (permRAS:
 * ±(axis+1) of the file axis that runs along R, A, S).
 */
export function fileToBitmapIndex(permRAS: number[], dims: number[]): Uint32Array {
  const layout = [0, 0, 0];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) if (Math.abs(permRAS[i]) - 1 === j) layout[j] = i * Math.sign(permRAS[i]);
  const stride = [1, 1, 1];
  const flip = [false, false, false];
  let s = 1;
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      if (Math.abs(layout[j]) !== i) continue;
      stride[j] = s;
      if (layout[j] < 0 || Object.is(layout[j], -0)) flip[j] = true;
      s *= dims[j + 1];
    }
  }
  const lut = (n: number, st: number, f: boolean) => Array.from({ length: n }, (_, i) => (f ? n - 1 - i : i) * st);
  const xl = lut(dims[1], stride[0], flip[0]);
  const yl = lut(dims[2], stride[1], flip[1]);
  const zl = lut(dims[3], stride[2], flip[2]);
  const out = new Uint32Array(dims[1] * dims[2] * dims[3]);
  let j = 0;
  for (let z = 0; z < dims[3]; z++) for (let y = 0; y < dims[2]; y++) for (let x = 0; x < dims[1]; x++) out[j++] = xl[x] + yl[y] + zl[z];
  return out;
}
