import { describe, expect, it } from 'vitest';
import * as nifti from 'nifti-reader-js';
import { makePhantom, PHANTOM_INTENSITY, PHANTOM_LABELS, randomPhantomOptions } from './phantom.ts';
import { encodeNifti1 } from './nifti1.ts';

describe('demo phantom', () => {
  const p = makePhantom();

  it('has the documented grid, spacing and a centred RAS affine', () => {
    expect(p.image.shape).toEqual([1, 48, 64, 64]);
    expect(p.truth.shape).toEqual([48, 64, 64]);
    expect(p.image.properties.spacing).toEqual([1.5, 1.5, 1.5]);
    const a = p.image.properties.affine!;
    // voxel (31.5, 31.5, 23.5) is the world origin
    expect(a[0][0] * 31.5 + a[0][3]).toBeCloseTo(0, 10);
    expect(a[2][2] * 23.5 + a[2][3]).toBeCloseTo(0, 10);
  });

  it('contains every labelled structure, nested as designed', () => {
    const counts = new Map<number, number>();
    for (const v of p.truth.data) counts.set(v, (counts.get(v) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(Object.values(PHANTOM_LABELS).sort());
    const voxMl = 1.5 ** 3 / 1000;
    // brain (all labels > 0) is the biggest structure; ventricles and lesion are a few mL each
    const brainMl = (p.truth.data.length - counts.get(0)!) * voxMl;
    expect(brainMl).toBeGreaterThan(100);
    expect(counts.get(2)! * voxMl).toBeGreaterThan(1);
    expect(counts.get(3)! * voxMl).toBeGreaterThan(1);
    expect(counts.get(3)!).toBeLessThan(counts.get(1)!);
  });

  it('has tissue intensities near their design values and air exactly 0', () => {
    const sum = new Float64Array(4);
    const n = new Float64Array(4);
    let air = 0;
    for (let i = 0; i < p.truth.data.length; i++) {
      sum[p.truth.data[i]] += p.image.data[i];
      n[p.truth.data[i]]++;
      if (p.image.data[i] === 0) air++;
    }
    expect(air).toBeGreaterThan(0.15 * p.truth.data.length);
    const mean = (l: number) => sum[l] / n[l];
    expect(mean(2)).toBeGreaterThan(0.92 * PHANTOM_INTENSITY.ventricles);
    expect(mean(2)).toBeLessThan(1.08 * PHANTOM_INTENSITY.ventricles);
    expect(mean(3)).toBeGreaterThan(0.92 * PHANTOM_INTENSITY.lesion);
    expect(mean(3)).toBeLessThan(1.08 * PHANTOM_INTENSITY.lesion);
    expect(mean(1)).toBeGreaterThan(PHANTOM_INTENSITY.whiteMatter * 0.95);
    expect(mean(1)).toBeLessThan(PHANTOM_INTENSITY.greyMatter * 1.05);
  });

  it('is deterministic for a seed and noisy', () => {
    const again = makePhantom();
    expect(again.image.data).toEqual(p.image.data);
    const other = makePhantom({ seed: 2 });
    expect(other.truth.data).toEqual(p.truth.data);
    expect(other.image.data).not.toEqual(p.image.data);
  });

  it('scales the anatomy to smaller grids (for ≤ 32³ test volumes)', () => {
    const s = makePhantom({ size: [32, 32, 24], spacingMm: 3 });
    const labels = new Set(s.truth.data);
    expect([...labels].sort()).toEqual([0, 1, 2, 3]);
  });
});

describe('phantom anatomy variation (training data)', () => {
  // geometry checked against closed-form volumes: a ball of radius r voxels holds ≈ 4/3·π·r³ voxels
  const sp = 1.5;
  const size: [number, number, number] = [64, 64, 48];
  const fov = size.map((n) => n * sp);
  const count = (t: ArrayLike<number>, l: number) => {
    let c = 0;
    for (let i = 0; i < t.length; i++) if (t[i] === l) c++;
    return c;
  };

  it('an empty anatomy is the default demo phantom', () => {
    const p = makePhantom();
    const q = makePhantom({ anatomy: {} });
    expect(q.image.data).toEqual(p.image.data);
    expect(q.truth.data).toEqual(p.truth.data);
  });

  it('places lesions of the requested size and count', () => {
    const noLesion = makePhantom({ anatomy: { lesions: [] } });
    expect(count(noLesion.truth.data, 3)).toBe(0);
    const head = [0.46, 0.48, 0.46];
    const rmin = Math.min(...head.map((h, i) => h * fov[i]));
    const lesions = [
      { centre: [-0.4, 0.3, -0.2] as [number, number, number], radius: 0.2 },
      { centre: [0.35, 0.35, 0.2] as [number, number, number], radius: 0.15 },
    ];
    const two = makePhantom({ anatomy: { lesions } });
    const expected = lesions.reduce((s, l) => s + (4 / 3) * Math.PI * ((l.radius * rmin) / sp) ** 3, 0);
    expect(count(two.truth.data, 3) / expected).toBeGreaterThan(0.93);
    expect(count(two.truth.data, 3) / expected).toBeLessThan(1.07);
    // each lesion centre voxel is labelled 3
    for (const l of lesions) {
      const idx = l.centre.map((c, i) => Math.round((c * head[i] * fov[i] + ((size[i] - 1) * sp) / 2) / sp));
      expect(two.truth.data[(idx[2] * size[1] + idx[1]) * size[0] + idx[0]]).toBe(3);
    }
  });

  it('scales the head and the ventricles', () => {
    const small = makePhantom({ anatomy: { head: [0.3, 0.3, 0.3], lesions: [] } });
    // brain = labels 1..3 = ellipsoid of half-axes 0.85 · 0.3 · fov
    const brain = small.truth.data.length - count(small.truth.data, 0);
    const expected = (4 / 3) * Math.PI * fov.reduce((s, f) => s * ((0.85 * 0.3 * f) / sp), 1);
    expect(brain / expected).toBeGreaterThan(0.95);
    expect(brain / expected).toBeLessThan(1.05);
    const base = count(makePhantom({ anatomy: { lesions: [] } }).truth.data, 2);
    const big = count(makePhantom({ anatomy: { lesions: [], ventricleScale: [1.5, 1, 1] } }).truth.data, 2);
    // ventricles are ellipsoids: 1.5× one half-axis = 1.5× the volume
    expect(big / base).toBeGreaterThan(1.4);
    expect(big / base).toBeLessThan(1.6);
  });

  it('applies the intensity gains', () => {
    const meanOf = (p: ReturnType<typeof makePhantom>, l: number) => {
      let s = 0;
      let n = 0;
      for (let i = 0; i < p.truth.data.length; i++) if (p.truth.data[i] === l) (s += p.image.data[i]), n++;
      return s / n;
    };
    const p = makePhantom({ noise: 0, bias: 0 });
    const q = makePhantom({ noise: 0, bias: 0, anatomy: { gain: 1.5, tissueGain: { ventricles: 0.9 } } });
    expect(meanOf(p, 2)).toBeCloseTo(PHANTOM_INTENSITY.ventricles, 6);
    expect(meanOf(q, 2)).toBeCloseTo(PHANTOM_INTENSITY.ventricles * 1.5 * 0.9, 3);
    expect(meanOf(q, 3)).toBeCloseTo(PHANTOM_INTENSITY.lesion * 1.5, 3);
  });

  it('randomPhantomOptions: deterministic per seed, varied, every phantom has brain and ventricles', () => {
    expect(randomPhantomOptions(7)).toEqual(randomPhantomOptions(7));
    const sizes = new Set<string>();
    let lesionCases = 0;
    for (let seed = 1; seed <= 12; seed++) {
      const o = randomPhantomOptions(seed);
      sizes.add(o.size!.join('x'));
      expect(o.spacingMm).toBeGreaterThanOrEqual(1.2);
      expect(o.spacingMm).toBeLessThanOrEqual(1.9);
      const p = makePhantom(o);
      expect(count(p.truth.data, 1)).toBeGreaterThan(1000);
      expect(count(p.truth.data, 2)).toBeGreaterThan(50);
      if (o.anatomy!.lesions!.length > 0) {
        lesionCases++;
        expect(count(p.truth.data, 3)).toBeGreaterThan(0);
      } else expect(count(p.truth.data, 3)).toBe(0);
    }
    expect(sizes.size).toBeGreaterThan(10);
    expect(lesionCases).toBeGreaterThan(6);
  });
});

describe('encodeNifti1 (read back by nifti-reader-js, an independent reader)', () => {
  it('round-trips float32 data, dims, sform and qform', () => {
    const affine = [
      [0, 0, -2, 10],
      [-1.5, 0, 0, 20],
      [0, 1.25, 0, -30],
      [0, 0, 0, 1],
    ];
    const data = new Float32Array(3 * 4 * 5).map((_, i) => i * 0.5 - 3);
    const bytes = encodeNifti1(data, [3, 4, 5], affine);
    const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    expect(nifti.isNIFTI1(buf)).toBe(true);
    const hdr = nifti.readHeader(buf) as nifti.NIFTI1;
    expect(hdr.dims.slice(0, 4)).toEqual([3, 3, 4, 5]);
    expect(hdr.datatypeCode).toBe(16);
    expect(hdr.sform_code).toBe(1);
    for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) expect(hdr.affine[r][c]).toBeCloseTo(affine[r][c], 5);
    const q = hdr.convertNiftiQFormToNiftiSForm(
      hdr.quatern_b, hdr.quatern_c, hdr.quatern_d, hdr.qoffset_x, hdr.qoffset_y, hdr.qoffset_z,
      hdr.pixDims[1], hdr.pixDims[2], hdr.pixDims[3], hdr.pixDims[0],
    );
    for (let r = 0; r < 3; r++) for (let c = 0; c < 4; c++) expect(q[r][c]).toBeCloseTo(affine[r][c], 5);
    const img = new Float32Array(nifti.readImage(hdr, buf));
    expect(Array.from(img)).toEqual(Array.from(data));
  });

  it('encodes uint8 4D volumes and rejects a dims/data mismatch', () => {
    const eye = [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]];
    const bytes = encodeNifti1(new Uint8Array(24).fill(7), [2, 3, 2, 2], eye);
    const buf = bytes.buffer.slice(0) as ArrayBuffer;
    const hdr = nifti.readHeader(buf)!;
    expect(hdr.dims.slice(0, 5)).toEqual([4, 2, 3, 2, 2]);
    expect(hdr.datatypeCode).toBe(2);
    expect(() => encodeNifti1(new Uint8Array(5), [2, 3, 2], eye)).toThrow(/hold 12 voxels/);
  });
});
