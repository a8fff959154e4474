import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { strFromU8, strToU8, zipSync } from 'fflate';
import { bundleToZip, createBundle, loadBundle, unzipBundle } from './bundle.ts';
import { sha256Hex } from './sha256.ts';
import { buildPointwiseOnnx, syntheticPlans } from './syntheticModels.ts';

const dataset = { channel_names: { '0': 'T1', '1': 'T2' }, labels: { background: 0, tumour: 1 }, file_ending: '.nii.gz', numTraining: 3 };

async function makeBundle() {
  const plans = syntheticPlans({ patchSize: [8, 8, 8], spacing: [1, 1, 1], channels: 2 });
  return createBundle({
    plans,
    dataset,
    configuration: '3d_fullres',
    folds: new Map([
      [1, buildPointwiseOnnx([[1, 0], [0, 1]], [0, 0])],
      [0, buildPointwiseOnnx([[2, 0], [0, 2]], [0, 0])],
    ]),
    postprocessing: { foreground_as_one: false },
  });
}

describe('sha256Hex', () => {
  it('matches the FIPS 180-4 test vectors and node:crypto', () => {
    expect(sha256Hex(strToU8('abc'))).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(sha256Hex(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(sha256Hex(strToU8('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'))).toBe('248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1');
    for (const n of [55, 56, 63, 64, 65, 1000, 4097]) {
      const d = Uint8Array.from({ length: n }, (_, i) => (i * 131 + 7) & 255);
      expect(sha256Hex(d)).toBe(createHash('sha256').update(d).digest('hex'));
    }
  });
});

describe('model bundles', () => {
  it('createBundle writes the manifest in the documented format, with every file hashed', async () => {
    const files = await makeBundle();
    const manifest = JSON.parse(strFromU8(files.get('manifest.json')!));
    expect(Object.keys(manifest)).toEqual(['format', 'configuration', 'folds', 'files']);
    expect(manifest.format).toBe('segstudio-bundle/1');
    expect(manifest.configuration).toBe('3d_fullres');
    expect(manifest.folds).toEqual([0, 1]);
    expect(Object.keys(manifest.files).sort()).toEqual(['dataset.json', 'fold_0.onnx', 'fold_1.onnx', 'plans.json', 'postprocessing.json']);
    for (const [k, v] of Object.entries(manifest.files)) expect(v).toBe(createHash('sha256').update(files.get(k)!).digest('hex'));
  });

  it('loadBundle opens a valid bundle (folder map and zip, with or without a top folder)', async () => {
    const files = await makeBundle();
    const b = await loadBundle(files, 'MyModel');
    expect(b.configuration).toBe('3d_fullres');
    expect(b.folds).toEqual([0, 1]);
    expect(b.networks.map((n) => n.name)).toEqual(['fold_0.onnx', 'fold_1.onnx']);
    expect(b.dataset.channel_names).toEqual({ '0': 'T1', '1': 'T2' });
    expect(b.postprocessing).toEqual({ foreground_as_one: false });
    const b2 = await loadBundle(unzipBundle(bundleToZip(files), 'm.zip'), 'm.zip');
    expect(b2.networks[1].bytes).toEqual(files.get('fold_1.onnx'));
    const nested: Record<string, Uint8Array> = {};
    for (const [k, v] of files) nested[`MyModel/${k}`] = v;
    nested['__MACOSX/MyModel/._plans.json'] = new Uint8Array([1]);
    const b3 = await loadBundle(unzipBundle(zipSync(nested), 'nested.zip'), 'nested.zip');
    expect(b3.folds).toEqual([0, 1]);
  });

  it('refuses a bundle whose file was modified, naming the file', async () => {
    const files = await makeBundle();
    const onnx = files.get('fold_1.onnx')!.slice();
    onnx[onnx.length - 3] ^= 1;
    files.set('fold_1.onnx', onnx);
    await expect(loadBundle(files, 'MyModel')).rejects.toThrow(/MyModel\/fold_1\.onnx: sha256 mismatch/);
    await expect(loadBundle(files, 'MyModel')).rejects.toMatchObject({ code: 'bundle-integrity', file: 'MyModel/fold_1.onnx' });
  });

  it('refuses missing, unlisted and unhashed files', async () => {
    const a = await makeBundle();
    a.delete('plans.json');
    await expect(loadBundle(a, 'B')).rejects.toThrow(/B\/plans\.json: file listed in manifest\.json is missing/);
    const b = await makeBundle();
    b.set('fold_7.onnx', new Uint8Array([1, 2, 3]));
    await expect(loadBundle(b, 'B')).rejects.toThrow(/B\/fold_7\.onnx: file is not listed in manifest\.json/);
    const c = await makeBundle();
    const m = JSON.parse(strFromU8(c.get('manifest.json')!));
    m.folds = [0, 1, 2];
    c.set('manifest.json', strToU8(JSON.stringify(m)));
    await expect(loadBundle(c, 'B')).rejects.toThrow(/bundle has no fold_2\.onnx/);
    const d = await makeBundle();
    const m2 = JSON.parse(strFromU8(d.get('manifest.json')!));
    m2.format = 'segstudio-bundle/2';
    d.set('manifest.json', strToU8(JSON.stringify(m2)));
    await expect(loadBundle(d, 'B')).rejects.toThrow(/B\/manifest\.json: unsupported format/);
    const e = await makeBundle();
    e.delete('manifest.json');
    await expect(loadBundle(e, 'B')).rejects.toThrow(/B: missing manifest\.json/);
  });

  it('refuses a manifest naming a configuration the plans do not have', async () => {
    const files = await createBundle({
      plans: syntheticPlans({ patchSize: [8, 8, 8], spacing: [1, 1, 1], channels: 1 }),
      dataset,
      configuration: '3d_lowres',
      folds: { 0: buildPointwiseOnnx([[1]], [0]) },
    });
    await expect(loadBundle(files, 'B')).rejects.toThrow(/B\/plans\.json: .*no configuration '3d_lowres'/);
  });

  it('refuses a file that is not a zip', () => {
    expect(() => unzipBundle(strToU8('hello'), 'x.zip')).toThrow(/x\.zip: not a readable zip/);
  });
});
