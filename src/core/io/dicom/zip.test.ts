import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { isSegStudioError } from '../../errors.ts';
import { unzipDicomInputs, zipHoldsModel, zipMemberNames } from './zip.ts';

const enc = new TextEncoder();

describe('DICOM zips', () => {
  const zip = zipSync({
    'export/IM0001': enc.encode('one'),
    'export/sub/IM0002.dcm': enc.encode('two'),
    '__MACOSX/export/._IM0001': enc.encode('fork'),
    'export/.DS_Store': enc.encode('junk'),
    'export/empty/': new Uint8Array(0),
  });

  it('lists members without inflating and tells model bundles from DICOM folders', () => {
    expect(zipMemberNames(zip, 'study.zip').sort()).toEqual(['__MACOSX/export/._IM0001', 'export/.DS_Store', 'export/IM0001', 'export/empty/', 'export/sub/IM0002.dcm']);
    expect(zipHoldsModel(zipMemberNames(zip, 'study.zip'))).toBe(false);
    expect(zipHoldsModel(['bundle/manifest.json', 'bundle/fold_0.onnx'])).toBe(true);
    expect(zipHoldsModel(['model.onnx'])).toBe(true);
  });

  it('unzips the files under the archive name, leaving out folders, resource forks and dot files', () => {
    const inputs = unzipDicomInputs(zip, 'some/dir/study.zip');
    expect(inputs.map((i) => [i.name, new TextDecoder().decode(i.bytes)])).toEqual([
      ['study.zip/export/IM0001', 'one'],
      ['study.zip/export/sub/IM0002.dcm', 'two'],
    ]);
  });

  it('refuses a non-zip and a member header that claims more than the archive holds, naming the archive', () => {
    const notZip = () => unzipDicomInputs(enc.encode('this is not a zip archive at all'), 'fake.zip');
    expect(notZip).toThrow(/^fake\.zip: not a readable zip archive/);
    const stored = zipSync({ 'a.dcm': new Uint8Array(64).fill(7) }, { level: 0 });
    // central directory entry: uncompressed size at +24 → claim 1 GB
    const bad = stored.slice();
    const dv = new DataView(bad.buffer);
    let cd = -1;
    for (let i = bad.length - 22; i >= 0; i--) if (dv.getUint32(i, true) === 0x02014b50) cd = i;
    expect(cd).toBeGreaterThan(0);
    dv.setUint32(cd + 24, 1 << 30, true);
    try {
      unzipDicomInputs(bad, 'lying.zip');
      throw new Error('did not throw');
    } catch (e) {
      expect(isSegStudioError(e)).toBe(true);
      expect((e as Error).message).toMatch(/^lying\.zip: archive member a\.dcm claims 1073741824 bytes/);
    }
  });
});
