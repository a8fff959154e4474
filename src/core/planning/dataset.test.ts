import { strToU8, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import {
  evaluationLabels,
  labelInfo,
  listRawDataset,
  parseDatasetJson,
  parseImageName,
  memoryDatasetFiles as memFiles,
  datasetFilesFromZip,
} from './dataset.ts';

const base = { channel_names: { '0': 'CT' }, labels: { background: 0, a: 1, b: 2 }, numTraining: 2, file_ending: '.nii.gz' };

describe('parseDatasetJson', () => {
  it('accepts the shared datasets’ layout and keeps optional keys', () => {
    const d = parseDatasetJson(JSON.stringify({ ...base, overwrite_image_reader_writer: 'NibabelIO', name: 'x' }));
    expect(d.numTraining).toBe(2);
    expect(d.overwrite_image_reader_writer).toBe('NibabelIO');
  });
  it('names missing keys and bad values', () => {
    expect(() => parseDatasetJson('{"labels": {"background": 0}}', 'ds/dataset.json')).toThrow(
      /ds\/dataset.json: missing required key\(s\): channel_names, numTraining, file_ending/,
    );
    expect(() => parseDatasetJson({ ...base, numTraining: -1 })).toThrow(/numTraining/);
    expect(() => parseDatasetJson({ ...base, file_ending: 'nii' })).toThrow(/file_ending/);
    expect(() => parseDatasetJson({ ...base, channel_names: { '1': 'CT' } })).toThrow(/channel_names/);
    expect(() => parseDatasetJson({ ...base, labels: { background: 0, a: 'x' } })).toThrow(/labels\["a"\]/);
    expect(() => parseDatasetJson('{oops')).toThrow(/not valid JSON/);
    expect(() => parseDatasetJson({ ...base, labels: { '0': 'background', '1': 'tumor' } })).toThrow(/nnU-Net v1/);
  });
  it("accepts nnU-Net v1's 'modality' for channel_names", () => {
    const { channel_names: _c, ...rest } = base;
    expect(parseDatasetJson({ ...rest, modality: { '0': 'MRI' } }).channel_names).toEqual({ '0': 'MRI' });
  });
});

describe('labelInfo (LabelManager semantics)', () => {
  it('plain labels', () => {
    const i = labelInfo(base);
    expect(i.allLabels).toEqual([0, 1, 2]);
    expect(i.foregroundLabels).toEqual([1, 2]);
    expect(i.hasRegions).toBe(false);
    expect(i.numSegmentationHeads).toBe(3);
    expect(evaluationLabels(i)).toEqual([1, 2]);
    expect(i.names[2]).toBe('b');
  });
  it('regions (BraTS-like) need regions_class_order; background region is skipped', () => {
    const labels = { background: 0, whole_tumor: [1, 2, 3], tumor_core: [2, 3], enhancing: 3 };
    expect(() => labelInfo({ labels })).toThrow(/regions_class_order/);
    const i = labelInfo({ labels, regions_class_order: [1, 2, 3] });
    expect(i.hasRegions).toBe(true);
    expect(i.regions).toEqual([[1, 2, 3], [2, 3], 3]);
    expect(i.allLabels).toEqual([0, 1, 2, 3]);
    expect(i.numSegmentationHeads).toBe(3);
    expect(evaluationLabels(i)).toEqual([[1, 2, 3], [2, 3], 3]);
  });
  it('ignore label must be max + 1', () => {
    expect(labelInfo({ labels: { background: 0, a: 1, ignore: 2 } }).ignoreLabel).toBe(2);
    expect(labelInfo({ labels: { background: 0, a: 1, ignore: 2 } }).allLabels).toEqual([0, 1]);
    expect(() => labelInfo({ labels: { background: 0, a: 1, ignore: 5 } })).toThrow(/ignore label/);
  });
  it('background must be 0', () => {
    expect(() => labelInfo({ labels: { a: 1 } })).toThrow(/background/);
    expect(() => labelInfo({ labels: { background: 1 } })).toThrow(/background/);
  });
});

describe('raw layout', () => {
  it('parses channel suffixes', () => {
    expect(parseImageName('case_01_0002.nii.gz', '.nii.gz')).toEqual({ caseId: 'case_01', channel: 2 });
    expect(parseImageName('case_01.nii.gz', '.nii.gz')).toBeNull();
    expect(parseImageName('case_0000.png', '.nii.gz')).toBeNull();
  });
  it('lists cases, channels and labels; reports missing channels, labels and numTraining', async () => {
    const ds = parseDatasetJson({ ...base, channel_names: { '0': 'T1', '1': 'T2' }, numTraining: 3 });
    const files = memFiles({
      'D/imagesTr/a_0000.nii.gz': '',
      'D/imagesTr/a_0001.nii.gz': '',
      'D/imagesTr/b_0000.nii.gz': '',
      'D/imagesTr/c_0000.nii.gz': '',
      'D/imagesTr/c_0001.nii.gz': '',
      'D/imagesTr/c_0002.nii.gz': '',
      'D/imagesTr/d.nii.gz': '',
      'D/imagesTr/e_0000.nii': '',
      'D/imagesTr/README.txt': '',
      'D/labelsTr/a.nii.gz': '',
      'D/labelsTr/b.nii.gz': '',
      'D/labelsTr/z.nii.gz': '',
      'D/imagesTs/t_0000.nii.gz': '',
    });
    const l = await listRawDataset(files, ds, 'D');
    expect(l.training.map((c) => c.id)).toEqual(['a', 'b', 'c']);
    expect(l.training[0].images).toEqual(['D/imagesTr/a_0000.nii.gz', 'D/imagesTr/a_0001.nii.gz']);
    expect(l.training[0].label).toBe('D/labelsTr/a.nii.gz');
    expect(l.test.map((c) => c.id)).toEqual(['t']);
    const msgs = l.problems.map((p) => `${p.severity}|${p.case}|${p.file}|${p.problem}`);
    expect(msgs).toContainEqual(expect.stringMatching(/^error\|b\|null\|missing channel\(s\) _0001/));
    expect(msgs).toContainEqual(expect.stringMatching(/^error\|c\|.*unexpected channel\(s\) _0002/));
    expect(msgs).toContainEqual(expect.stringMatching(/^error\|c\|null\|no label file labelsTr\/c.nii.gz/));
    expect(msgs).toContainEqual(expect.stringMatching(/^error\|z\|D\/labelsTr\/z.nii.gz\|label has no image/));
    expect(msgs).toContainEqual(expect.stringMatching(/^error\|null\|D\/imagesTr\/d.nii.gz\|image name must end in _XXXX/));
    expect(msgs).toContainEqual(expect.stringMatching(/^error\|null\|D\/imagesTr\/e_0000.nii\|file ending differs/));
    expect(msgs).toContainEqual(expect.stringMatching(/^warning\|t\|null\|missing channel\(s\) _0001/));
    // numTraining 3 and 3 cases found: no numTraining problem; README ignored
    expect(msgs.some((m) => m.includes('numTraining'))).toBe(false);
    expect(msgs.some((m) => m.includes('README'))).toBe(false);
  });
  it('RGB PNG datasets: fewer channel files than channel_names is only a note (one file may hold R, G, B)', async () => {
    const ds = parseDatasetJson({ ...base, channel_names: { '0': 'R', '1': 'G', '2': 'B' }, file_ending: '.png', numTraining: 1 });
    const l = await listRawDataset(memFiles({ 'imagesTr/a_0000.png': '', 'labelsTr/a.png': '' }), ds);
    expect(l.problems.map((p) => `${p.severity}|${p.code}|${p.problem}`)).toEqual([
      'warning|channel-files|1 channel file(s) for 3 declared channels: fine only if the images hold several channels each (RGB)',
    ]);
  });
  it('numTraining mismatch', async () => {
    const ds = parseDatasetJson({ ...base, numTraining: 5 });
    const l = await listRawDataset(memFiles({ 'imagesTr/a_0000.nii.gz': '', 'labelsTr/a.nii.gz': '' }), ds);
    expect(l.problems.map((p) => p.problem)).toEqual(['numTraining is 5 but 1 training case(s) were found']);
    const empty = await listRawDataset(memFiles({}), ds);
    expect(empty.problems.map((p) => `${p.file}: ${p.problem}`)).toEqual([
      'imagesTr: imagesTr is missing or empty',
      'labelsTr: labelsTr is missing or empty',
      'dataset.json: numTraining is 5 but 0 training case(s) were found',
    ]);
  });
  it('explicit "dataset" key', async () => {
    const ds = parseDatasetJson({ ...base, numTraining: 1, dataset: { x: { images: ['./imgs/x.nii.gz'], label: 'labs/x.nii.gz' } } });
    const l = await listRawDataset(memFiles({}), ds, 'R');
    expect(l.training).toEqual([{ id: 'x', images: ['R/imgs/x.nii.gz'], channels: [0], label: 'R/labs/x.nii.gz' }]);
    expect(l.problems).toEqual([]);
  });
});

describe('dataset from a zip archive', () => {
  it('finds the folder holding dataset.json and lists it', async () => {
    const zip = zipSync({
      'Dataset001_X/dataset.json': strToU8(JSON.stringify(base)),
      'Dataset001_X/imagesTr/a_0000.nii.gz': new Uint8Array([1]),
      'Dataset001_X/labelsTr/a.nii.gz': new Uint8Array([2]),
      'Dataset001_X/nested/dataset.json': strToU8('{}'),
    });
    const { files, root } = datasetFilesFromZip(zip);
    expect(root).toBe('Dataset001_X');
    expect(files.list('Dataset001_X/imagesTr')).toEqual(['a_0000.nii.gz']);
    expect(Array.from(await files.read('Dataset001_X/labelsTr/a.nii.gz'))).toEqual([2]);
    const l = await listRawDataset(files, parseDatasetJson({ ...base, numTraining: 1 }), root);
    expect(l.training.map((c) => c.label)).toEqual(['Dataset001_X/labelsTr/a.nii.gz']);
  });
  it('errors name the archive', () => {
    expect(() => datasetFilesFromZip(new Uint8Array([1, 2, 3]), 'x.zip')).toThrow(/x.zip/);
    expect(() => datasetFilesFromZip(zipSync({ 'a.txt': strToU8('x') }), 'y.zip')).toThrow(/y.zip: no dataset.json/);
  });
});
