// Models shipped with the page (public/models/): public/models/index.json lists them, each a bundle folder
// whose manifest.json names its files. A picked model is fetched from the page's own origin and handed to the
// same path as a dropped bundle folder (engine.loadModelFiles), so no other code needs to know about it.
import { SegStudioError } from '../core/errors.ts';

export interface BundledModelEntry {
  /** folder under models/ */
  id: string;
  name: string;
  description?: string;
}

const INDEX = 'models/index.json';

/** Parses models/index.json: `{"models": [{"id", "name", "description"?}]}`; ids are plain folder names. */
export function parseModelIndex(text: string): BundledModelEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new SegStudioError('model-index', `not valid JSON (${(e as Error).message})`, INDEX);
  }
  const list = (v as { models?: unknown })?.models;
  if (!Array.isArray(list)) throw new SegStudioError('model-index', 'expected {"models": [...]}', INDEX);
  return list.map((m, i) => {
    const e = m as Partial<BundledModelEntry>;
    if (typeof e?.id !== 'string' || !/^[A-Za-z0-9_-]+$/.test(e.id) || typeof e.name !== 'string')
      throw new SegStudioError('model-index', `entry ${i} needs an "id" (letters, digits, _ or -) and a "name"`, INDEX);
    return { id: e.id, name: e.name, ...(typeof e.description === 'string' ? { description: e.description } : {}) };
  });
}

type FetchLike = (url: string) => Promise<{ ok: boolean; status: number; text(): Promise<string>; blob(): Promise<Blob> }>;

export async function fetchModelIndex(base: string, fetchFn: FetchLike = fetch): Promise<BundledModelEntry[]> {
  const res = await fetchFn(new URL(INDEX, base).href);
  if (!res.ok) throw new SegStudioError('model-index', `cannot fetch the list of bundled models (HTTP ${res.status})`, INDEX);
  return parseModelIndex(await res.text());
}

/** Every file of a bundled model as `{path: "<id>/<file>", file}`, manifest first (the dropped-folder form). */
export async function fetchBundledModel(base: string, id: string, fetchFn: FetchLike = fetch): Promise<{ path: string; file: File }[]> {
  const dir = new URL(`models/${id}/`, base).href;
  const res = await fetchFn(`${dir}manifest.json`);
  if (!res.ok) throw new SegStudioError('bundled-model', `cannot fetch (HTTP ${res.status})`, `models/${id}/manifest.json`);
  const manifestText = await res.text();
  let names: string[];
  try {
    names = Object.keys((JSON.parse(manifestText) as { files: Record<string, string> }).files);
  } catch (e) {
    throw new SegStudioError('bundled-model', `manifest is not a bundle manifest (${(e as Error).message})`, `models/${id}/manifest.json`);
  }
  const out = [{ path: `${id}/manifest.json`, file: new File([manifestText], 'manifest.json') }];
  const rest = await Promise.all(
    names.map(async (name) => {
      if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new SegStudioError('bundled-model', `unexpected file name in the manifest: ${name}`, `models/${id}/manifest.json`);
      const r = await fetchFn(`${dir}${name}`);
      if (!r.ok) throw new SegStudioError('bundled-model', `cannot fetch (HTTP ${r.status})`, `models/${id}/${name}`);
      return { path: `${id}/${name}`, file: new File([await r.blob()], name) };
    }),
  );
  return [...out, ...rest];
}
