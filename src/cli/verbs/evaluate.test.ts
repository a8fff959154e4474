// CLI flows of the evaluation area on real label maps (shared/data), in temp folders:
// evaluate (vs numpy truth recorded by scripts/fixtures/scipy_label_eval.py), postprocess --determine / apply,
// ensemble (npz members → argmax on the reference grid), verify (exit codes).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it, vi } from 'vitest';
import { dataPath, describeWithData, repoRoot } from '../../../test/sharedData.ts';
import { readImageFile, writeSegmentation } from '../../core/io/index.ts';
import { parseSummaryJson } from '../../core/evaluation/metrics.ts';
import { parsePostprocessingJson } from '../../core/postprocessing/postprocessing.ts';
import { writeNpz } from '../../core/ensembling/npz.ts';
import { main } from '../main.ts';

async function cli(args: string[]): Promise<{ rc: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
  try {
    const rc = await main(args);
    return { rc, out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

/** np.roll along one axis of a [z, y, x] volume */
function roll(d: Uint8Array, shape: number[], shift: number, axis: number): Uint8Array {
  const [Z, Y, X] = shape;
  const out = new Uint8Array(d.length);
  for (let z = 0; z < Z; z++)
    for (let y = 0; y < Y; y++)
      for (let x = 0; x < X; x++) {
        const c = [z, y, x];
        c[axis] = (((c[axis] + shift) % shape[axis]) + shape[axis]) % shape[axis];
        out[(c[0] * Y + c[1]) * X + c[2]] = d[(z * Y + y) * X + x];
      }
  return out;
}

const RULES: Record<string, (d: Uint8Array, s: number[]) => Uint8Array> = {
  hippocampus_006: (d, s) => roll(d, s, 1, 2),
  hippocampus_007: (d) => d.map((v) => (v === 2 ? 0 : v)),
  hippocampus_008: (d) => new Uint8Array(d.length),
  hippocampus_011: (d, s) => roll(d, s, -2, 1),
  hippocampus_014: (d) => d.slice(),
};

describeWithData('evaluation CLI verbs on real label maps', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-cli-eval-'));
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const ref = path.join(tmp, 'ref');
  const pred = path.join(tmp, 'pred');
  fs.mkdirSync(ref);
  fs.mkdirSync(pred);
  const refs: Record<string, { data: Uint8Array; shape: number[] }> = {};
  for (const [id, rule] of Object.entries(RULES)) {
    const f = dataPath('Dataset004_Hippocampus/labelsTr', `${id}.nii.gz`);
    fs.copyFileSync(f, path.join(ref, `${id}.nii.gz`));
    const img = readImageFile(new Uint8Array(fs.readFileSync(f)), f);
    const shape = img.shape.slice(1);
    const data = Uint8Array.from(img.data);
    refs[id] = { data, shape };
    fs.writeFileSync(path.join(pred, `${id}.nii.gz`), writeSegmentation({ data: rule(data, shape), shape }, img.properties, `${id}.nii.gz`));
  }

  it('evaluate: summary.json equals the numpy truth (labels discovered: 1, 2)', async () => {
    const out = path.join(tmp, 'summary.json');
    const r = await cli(['evaluate', '-r', ref, '-p', pred, '-o', out]);
    expect(r.rc).toBe(0);
    expect(r.out).toMatch(/foreground mean Dice 0\.6311/);
    const s = parseSummaryJson(fs.readFileSync(out, 'utf8'));
    const truth = JSON.parse(fs.readFileSync(path.join(repoRoot, 'test/fixtures/postprocessing/hippocampus_eval_summary.json'), 'utf8'));
    expect(s.metric_per_case.map((c) => path.basename(c.prediction_file, '.nii.gz'))).toEqual(truth.metric_per_case.map((c: { case: string }) => c.case));
    for (let i = 0; i < s.metric_per_case.length; i++) expect(s.metric_per_case[i].metrics).toEqual(truth.metric_per_case[i].metrics);
    expect(s.mean).toEqual(truth.mean);
    expect(s.foreground_mean).toEqual(truth.foreground_mean);
  });

  it('evaluate: -l restricts labels, a region key is written as "(1, 2)"', async () => {
    const out = path.join(tmp, 'summary_l.json');
    expect((await cli(['evaluate', '-r', ref, '-p', pred, '-o', out, '-l', '2', '1,2'])).rc).toBe(0);
    expect(Object.keys(parseSummaryJson(fs.readFileSync(out, 'utf8')).mean)).toEqual(['2', '(1, 2)']);
  });

  it('evaluate: missing folder is a one-line error with exit code 1', async () => {
    const r = await cli(['evaluate', '-r', ref, '-p', path.join(tmp, 'nope')]);
    expect(r.rc).toBe(1);
    expect(r.err).toMatch(/nope: folder not found/);
  });

  it('postprocess --determine, then apply the JSON to the folder', async () => {
    // add a stray label-1 blob far from the hippocampus to the perfect prediction 014
    const id = 'hippocampus_014';
    const { data, shape } = refs[id];
    const d = data.slice();
    d[0] = 1;
    d[1] = 1;
    const props = readImageFile(new Uint8Array(fs.readFileSync(path.join(ref, `${id}.nii.gz`))), id).properties;
    const pred2 = path.join(tmp, 'pred2');
    fs.mkdirSync(pred2);
    for (const f of fs.readdirSync(pred)) if (f.endsWith('.nii.gz')) fs.copyFileSync(path.join(pred, f), path.join(pred2, f));
    fs.writeFileSync(path.join(pred2, `${id}.nii.gz`), writeSegmentation({ data: d, shape }, props, 'x.nii.gz'));
    const ppFile = path.join(tmp, 'pp.json');
    const r = await cli(['postprocess', '--determine', '-i', pred2, '-r', ref, '--pp', ppFile, '-o', path.join(tmp, 'pp_out')]);
    expect(r.rc).toBe(0);
    const pp = parsePostprocessingJson(fs.readFileSync(ppFile, 'utf8'));
    // the rolled prediction of 011 and the stray blob of 014 make "largest component" steps worthwhile; whatever
    // was accepted, applying the JSON must reproduce the determine run's own postprocessed folder
    const r2 = await cli(['postprocess', '-i', pred2, '-o', path.join(tmp, 'pp_apply'), '--pp', ppFile]);
    expect(r2.rc).toBe(0);
    for (const f of Object.keys(RULES)) {
      const a = readImageFile(new Uint8Array(fs.readFileSync(path.join(tmp, 'pp_out', `${f}.nii.gz`))), f);
      const b = readImageFile(new Uint8Array(fs.readFileSync(path.join(tmp, 'pp_apply', `${f}.nii.gz`))), f);
      expect(Array.from(b.data)).toEqual(Array.from(a.data));
    }
    // the stray voxels are gone after postprocessing and the accepted steps improved the foreground Dice
    expect(pp.postprocessing_fns.length).toBeGreaterThan(0);
    const fixed = readImageFile(new Uint8Array(fs.readFileSync(path.join(tmp, 'pp_apply', `${id}.nii.gz`))), id);
    expect(Array.from(fixed.data)).toEqual(Array.from(data));
    expect(pp.postprocessed!.foreground_mean.Dice).toBeGreaterThan(pp.input_folder!.foreground_mean.Dice);
  });

  it('ensemble: two npz members, geometry from --reference, argmax = reference labels', async () => {
    const m1 = path.join(tmp, 'm1');
    const m2 = path.join(tmp, 'm2');
    fs.mkdirSync(m1);
    fs.mkdirSync(m2);
    for (const [id, { data, shape }] of Object.entries(refs)) {
      const n = data.length;
      const rolled = roll(data, shape, 1, 2);
      // member 1: 0.8 on the reference label, 0.1 elsewhere; member 2: 0.6 on a shifted label, 0.2 elsewhere
      const a = new Float32Array(3 * n).fill(0.1);
      const b = new Float32Array(3 * n).fill(0.2);
      for (let i = 0; i < n; i++) {
        a[data[i] * n + i] = 0.8;
        b[rolled[i] * n + i] = 0.6;
      }
      fs.writeFileSync(path.join(m1, `${id}.npz`), writeNpz({ probabilities: { data: a, shape: [3, ...shape] } }));
      fs.writeFileSync(path.join(m2, `${id}.npz`), writeNpz({ probabilities: { data: b, shape: [3, ...shape] } }));
    }
    const out = path.join(tmp, 'ens');
    const r = await cli(['ensemble', '-i', m1, m2, '-o', out, '--ending', '.nii.gz', '--reference', ref]);
    expect(r.rc).toBe(0);
    for (const [id, { data }] of Object.entries(refs)) {
      const seg = readImageFile(new Uint8Array(fs.readFileSync(path.join(out, `${id}.nii.gz`))), id);
      const orig = readImageFile(new Uint8Array(fs.readFileSync(path.join(ref, `${id}.nii.gz`))), id);
      // where members disagree: ref label 0.5*(0.8+0.2)=0.5 vs shifted 0.5*(0.1+0.6)=0.35 → reference wins
      expect(Array.from(seg.data)).toEqual(Array.from(data));
      expect(seg.properties.affine).toEqual(orig.properties.affine);
    }
  });

  it('ensemble: geometry from CASE.json written the way predict writes it ({properties: {..., header}})', async () => {
    const m1 = path.join(tmp, 'm1');
    const m2 = path.join(tmp, 'm2');
    for (const id of Object.keys(refs)) {
      const props = readImageFile(new Uint8Array(fs.readFileSync(path.join(ref, `${id}.nii.gz`))), id).properties;
      const header: Record<string, unknown> = { ...(props.header as Record<string, unknown>), extensions: [] };
      delete header.analyzeBytes;
      fs.writeFileSync(path.join(m1, `${id}.json`), JSON.stringify({ properties: { ...props, header }, class_names: ['a', 'b', 'c'] }));
    }
    const out = path.join(tmp, 'ens_json');
    // no --ending and no dataset.json: the ending comes from the CASE.nii.gz predict wrote beside CASE.npz
    expect((await cli(['ensemble', '-i', m1, m2, '-o', out])).rc).toBe(1);
    for (const id of Object.keys(refs)) fs.copyFileSync(path.join(ref, `${id}.nii.gz`), path.join(m1, `${id}.nii.gz`));
    expect((await cli(['ensemble', '-i', m1, m2, '-o', out, '--save-probabilities'])).rc).toBe(0);
    for (const [id, { data }] of Object.entries(refs)) {
      const seg = readImageFile(new Uint8Array(fs.readFileSync(path.join(out, `${id}.nii.gz`))), id);
      const orig = readImageFile(new Uint8Array(fs.readFileSync(path.join(ref, `${id}.nii.gz`))), id);
      expect(Array.from(seg.data)).toEqual(Array.from(data));
      expect(seg.properties.affine).toEqual(orig.properties.affine);
      expect(fs.existsSync(path.join(out, `${id}.npz`)) && fs.existsSync(path.join(out, `${id}.json`))).toBe(true);
    }
  });

  it('verify: exit 1 with an ERROR line on a broken copy, 0 when clean', async () => {
    const ds = path.join(tmp, 'Dataset999_Broken');
    fs.mkdirSync(path.join(ds, 'imagesTr'), { recursive: true });
    fs.mkdirSync(path.join(ds, 'labelsTr'), { recursive: true });
    const src = dataPath('Dataset004_Hippocampus');
    for (const id of ['hippocampus_006', 'hippocampus_007']) {
      fs.copyFileSync(path.join(src, 'imagesTr', `${id}_0000.nii.gz`), path.join(ds, 'imagesTr', `${id}_0000.nii.gz`));
      fs.copyFileSync(path.join(src, 'labelsTr', `${id}.nii.gz`), path.join(ds, 'labelsTr', `${id}.nii.gz`));
    }
    const dj = { channel_names: { '0': 'MRI' }, labels: { background: 0, Anterior: 1, Posterior: 2 }, numTraining: 2, file_ending: '.nii.gz' };
    fs.writeFileSync(path.join(ds, 'dataset.json'), JSON.stringify(dj));
    const ok = await cli(['verify', ds]);
    expect(ok.rc).toBe(0);
    expect(ok.out).toMatch(/^ok {3}hippocampus_006 shape/m);
    // a label that never occurs is only a warning: passes, but not with --strict
    fs.writeFileSync(path.join(ds, 'dataset.json'), JSON.stringify({ ...dj, labels: { ...dj.labels, Extra: 3 } }));
    expect((await cli(['verify', ds, '-q'])).rc).toBe(0);
    expect((await cli(['verify', ds, '--strict'])).rc).toBe(1);
    fs.writeFileSync(path.join(ds, 'dataset.json'), JSON.stringify({ ...dj, labels: { background: 0, Anterior: 1 } }));
    const bad = await cli(['verify', ds, '--json', path.join(tmp, 'report.json')]);
    expect(bad.rc).toBe(1);
    expect(bad.out).toMatch(/ERROR: \[hippocampus_006\] labelsTr\/hippocampus_006.nii.gz: unexpected label value\(s\) 2 \(declared: 0, 1\)/);
    expect(JSON.parse(fs.readFileSync(path.join(tmp, 'report.json'), 'utf8')).ok).toBe(false);
  });
});
