// Real scans (../shared/data/scans) through NIfTI → DICOM (our writer) → dcm2niix WASM → NIfTI: an oblique
// clinical FLAIR, a CT in Hounsfield units and an MR, each with its own affine (central ≤ 80³ blocks). The volumes come back with
// their voxels at the same world positions (voxel for voxel; slice order reversed for right-handed grids).
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { dataPath, describeWithData } from '../../../../test/sharedData.ts';
import { nodeDcm2niixFactory } from '../../../node/dcm2niixNode.ts';
import type { Image } from '../../types.ts';
import { readImageFile } from '../files.ts';
import { niftiToImage, readNifti } from '../nifti.ts';
import { convertDicom } from './convert.ts';
import { imageToDicomSeries } from './writer.ts';
import { expectSameWorld } from './roundTrip.testutil.ts';

const factory = nodeDcm2niixFactory();

/** The central ≤ n³ block of channel 0, with the affine moved to its first voxel (keeps the test fast). */
function centralCrop(img: Image, n: number): Image {
  const [, nz, ny, nx] = img.shape;
  const [cz, cy, cx] = [nz, ny, nx].map((d) => Math.min(d, n));
  const [oz, oy, ox] = [(nz - cz) >> 1, (ny - cy) >> 1, (nx - cx) >> 1];
  const data = new Float32Array(cz * cy * cx);
  for (let z = 0; z < cz; z++) for (let y = 0; y < cy; y++) data.set(img.data.subarray(((z + oz) * ny + y + oy) * nx + ox, ((z + oz) * ny + y + oy) * nx + ox + cx), (z * cy + y) * cx);
  const a = img.properties.affine!;
  const affine = a.map((row, r) => (r < 3 ? [row[0], row[1], row[2], row[0] * ox + row[1] * oy + row[2] * oz + row[3]] : [...row]));
  return { data, shape: [1, cz, cy, cx], properties: { ...img.properties, affine } };
}

describeWithData('real scans round-trip through DICOM and dcm2niix', () => {
  const cases: [string, 'MR' | 'CT'][] = [
    ['niivue_FLAIR.nii.gz', 'MR'],
    ['totalseg_example_ct_sm.nii.gz', 'CT'],
    ['totalseg_example_mr_sm.nii.gz', 'MR'],
  ];
  for (const [name, modality] of cases) {
    it(`${name}: same grid size, same world positions, same values`, async () => {
      const src = centralCrop(readImageFile(new Uint8Array(fs.readFileSync(dataPath('scans', name))), name), 80);
      const { files, geometry } = imageToDicomSeries(src, { modality, seriesDescription: name });
      const res = await convertDicom(files.map((f) => ({ name: f.name, bytes: f.bytes })), factory);
      expect(res.series).toHaveLength(1);
      expect(res.series[0].modality).toBe(modality);
      const out = niftiToImage(readNifti(res.series[0].nifti, res.series[0].fileName));
      expect(out.shape).toEqual(src.shape);
      // float32 affines of an oblique scan: index map integral within 1e-3 voxel
      expectSameWorld(src, out, geometry.slope === 1 ? 0 : geometry.slope / 2 + 1e-3);
    });
  }
});

