import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { writeDicomSeries } from '../../core/io/dicom/writer.ts';
import { niftiToImage, readNifti } from '../../core/io/nifti.ts';
import { run } from './dicom.ts';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-dicom-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const A = [
  [-0.5, 0, 0, 1],
  [0, 0.5, 0, 2],
  [0, 0, 3, 4],
  [0, 0, 0, 1],
];
const t2 = writeDicomSeries({ data: Float32Array.from({ length: 3 * 4 * 5 }, (_, i) => 2 * i), shape: [3, 4, 5], affine: A }, { seriesNumber: 2, seriesDescription: 'T2 ax', uidSeed: 3 });
const ct = writeDicomSeries({ data: Float32Array.from({ length: 2 * 3 * 3 }, (_, i) => i - 1000), shape: [2, 3, 3], affine: A }, { seriesNumber: 9, seriesDescription: 'CT', modality: 'CT', uidSeed: 4 });

async function capture(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s) => ((err += String(s)), true));
  try {
    return { code: await run(argv), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

describe('segstudio dicom', () => {
  it('converts a nested folder and a zip, writes .nii.gz + sidecars, names the files left out', async () => {
    const dir = path.join(tmp, 'study');
    fs.mkdirSync(path.join(dir, 't2'), { recursive: true });
    for (const f of t2.files) fs.writeFileSync(path.join(dir, 't2', f.name), f.bytes);
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'hello');
    const zip = path.join(tmp, 'ct.zip');
    fs.writeFileSync(zip, zipSync(Object.fromEntries(ct.files.map((f) => [`CT/${f.name}`, f.bytes]))));
    const outDir = path.join(tmp, 'out');
    const r = await capture([dir, zip, '-o', outDir]);
    expect(r.code).toBe(0);
    expect(r.err).toContain('1 file(s) left out — study/notes.txt: not a DICOM file');
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toMatch(/^#\s+description\s+modality\s+voxels/);
    expect(lines[1]).toMatch(/^2\s+T2 ax\s+MR\s+5×4×3\s+0\.5×0\.5×3\s+3\s+2_T2_ax\.nii\.gz$/);
    expect(lines[2]).toMatch(/^9\s+CT\s+CT\s+3×3×2\s+0\.5×0\.5×3\s+2\s+9_CT\.nii\.gz$/);
    expect(fs.readdirSync(outDir).sort()).toEqual(['2_T2_ax.json', '2_T2_ax.nii.gz', '9_CT.json', '9_CT.nii.gz']);
    const vol = niftiToImage(readNifti(new Uint8Array(fs.readFileSync(path.join(outDir, '2_T2_ax.nii.gz'))), '2_T2_ax.nii.gz'));
    expect(Array.from(vol.data)).toEqual(Array.from({ length: 60 }, (_, i) => 2 * i));
    for (let i = 0; i < 3; i++) for (let j = 0; j < 4; j++) expect(vol.properties.affine![i][j]).toBeCloseTo(A[i][j], 5);
    expect(JSON.parse(fs.readFileSync(path.join(outDir, '9_CT.json'), 'utf8')).Modality).toBe('CT');
  });

  it('--list writes nothing; usage errors are SegStudioErrors', async () => {
    const dir = path.join(tmp, 'listonly');
    fs.mkdirSync(dir);
    for (const f of ct.files) fs.writeFileSync(path.join(dir, f.name), f.bytes);
    const r = await capture([dir, '--list']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/9\s+CT\s+CT\s+3×3×2/);
    expect(fs.readdirSync(dir)).toHaveLength(2);
    await expect(run([dir])).rejects.toThrow(/missing required option -o OUT_DIR/);
    await expect(run([path.join(tmp, 'nope'), '--list'])).rejects.toThrow(/nope: no such file or folder/);
  });
});
