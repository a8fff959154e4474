// The page's list of shipped models (public/models/index.json) and fetching one as a dropped bundle folder.
// Truths: the files on disk under public/ (every listed model has a folder whose manifest verifies with the
// core bundle loader), and what an HTTP fetch of them returns (a stub that serves public/ from disk).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadBundle } from '../core/inference/bundle.ts';
import { SegStudioError } from '../core/errors.ts';
import { fetchBundledModel, fetchModelIndex, parseModelIndex } from './bundledModels.ts';

const publicDir = path.resolve(import.meta.dirname, '../../public');
const BASE = 'http://127.0.0.1:5173/app/';

/** Serves public/ for URLs under BASE, 404 otherwise; records the requests. */
function diskFetch(requests: string[] = []) {
  return async (url: string) => {
    requests.push(url);
    const rel = url.startsWith(BASE) ? url.slice(BASE.length) : null;
    const file = rel === null ? null : path.join(publicDir, rel);
    const ok = !!file && fs.existsSync(file) && fs.statSync(file).isFile();
    const bytes = ok ? fs.readFileSync(file!) : Buffer.alloc(0);
    return { ok, status: ok ? 200 : 404, text: async () => bytes.toString('utf8'), blob: async () => new Blob([bytes]) };
  };
}

describe('bundled models', () => {
  it('every model in public/models/index.json is a folder whose bundle verifies when fetched', async () => {
    const list = await fetchModelIndex(BASE, diskFetch());
    expect(list.map((m) => m.id)).toContain('demo');
    expect(list.map((m) => m.id)).toContain('hippocampus');
    for (const m of list) {
      const requests: string[] = [];
      const files = await fetchBundledModel(BASE, m.id, diskFetch(requests));
      const manifest = JSON.parse(fs.readFileSync(path.join(publicDir, 'models', m.id, 'manifest.json'), 'utf8')) as { files: Record<string, string> };
      expect(files.map((f) => f.path).sort()).toEqual([`${m.id}/manifest.json`, ...Object.keys(manifest.files).map((n) => `${m.id}/${n}`)].sort());
      expect(requests.every((u) => u.startsWith(`${BASE}models/${m.id}/`))).toBe(true);
      // what the worker does with a dropped folder: strip the folder, verify every sha256
      const map = new Map<string, Uint8Array>();
      for (const f of files) map.set(f.path.slice(m.id.length + 1), new Uint8Array(await f.file.arrayBuffer()));
      const b = await loadBundle(map, m.id);
      expect(b.folds.length).toBeGreaterThan(0);
    }
  });

  it('refuses a malformed index or a missing model, naming the file', async () => {
    expect(() => parseModelIndex('[1]')).toThrow(SegStudioError);
    expect(() => parseModelIndex('{"models": [{"id": "../x", "name": "n"}]}')).toThrow(/entry 0/);
    expect(() => parseModelIndex('{not json')).toThrow(/models\/index\.json|not valid JSON/);
    const e = await fetchBundledModel(BASE, 'no-such-model', diskFetch()).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SegStudioError);
    expect((e as SegStudioError).message).toMatch(/404/);
    expect((e as SegStudioError).file).toBe('models/no-such-model/manifest.json');
  });
});
