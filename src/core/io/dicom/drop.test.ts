import { describe, expect, it } from 'vitest';
import { guessDicomDrop, headLooksLikeDicom } from './drop.ts';
import { writeDicomSeries } from './writer.ts';

describe('guessDicomDrop', () => {
  it('lets images and models through untouched', () => {
    expect(guessDicomDrop(['case_0000.nii.gz'])).toEqual({ kind: 'other' });
    expect(guessDicomDrop(['cells.png'])).toEqual({ kind: 'other' });
    expect(guessDicomDrop(['bundle/manifest.json', 'bundle/fold_0.onnx', 'bundle/plans.json'])).toEqual({ kind: 'other' });
    expect(guessDicomDrop(['model.onnx', 'model.card.json'])).toEqual({ kind: 'other' });
    // a NIfTI beside DICOM files: the image path (and its own message)
    expect(guessDicomDrop(['a.dcm', 'b.nii'])).toEqual({ kind: 'other' });
  });

  it('takes .dcm/.ima folders as DICOM and a lone zip to be looked into', () => {
    expect(guessDicomDrop(['study/IM0001.dcm', 'study/readme.txt'])).toEqual({ kind: 'dicom' });
    expect(guessDicomDrop(['MR.1.2.3.IMA'])).toEqual({ kind: 'dicom' });
    expect(guessDicomDrop(['export.zip'])).toEqual({ kind: 'zip' });
  });

  it('sniffs files without a telling name (at most maxSniff, never dot files or known non-DICOM endings)', () => {
    expect(guessDicomDrop(['PACS/IM0001', 'PACS/IM0002', 'PACS/.DS_Store', 'PACS/notes.txt', 'PACS/DICOMDIR'])).toEqual({ kind: 'sniff', candidates: [0, 1, 4] });
    expect(guessDicomDrop(Array.from({ length: 20 }, (_, i) => `s/${i}`), 3)).toEqual({ kind: 'sniff', candidates: [0, 1, 2] });
    expect(guessDicomDrop(['notes.txt', 'data.csv'])).toEqual({ kind: 'other' });
  });

  it('the sniff recognises a written slice from its first 132 bytes, and not text', () => {
    const { files } = writeDicomSeries({ data: new Float32Array(4), shape: [1, 2, 2], affine: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] });
    expect(headLooksLikeDicom(files[0].bytes.subarray(0, 132))).toBe(true);
    expect(headLooksLikeDicom(new TextEncoder().encode('x'.repeat(132)))).toBe(false);
  });
});
