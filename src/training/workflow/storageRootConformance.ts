// What every StorageRoot must do (MemoryRoot in Node tests; OpfsRoot and IndexedDbRoot in Chromium via
// e2e/pages/training-faults.ts): nested folders, listing of files and folders, overwrite, remove, a folder
// removed with everything below it, missing folders listed as empty, missing files refused naming the file.
// Returns the list of failed expectations (empty = conformant). Pure TypeScript (runs in the browser).
import { textBytes, bytesText } from '../trainer/storage.ts';
import type { StorageRoot } from './storageRoot.ts';

export async function storageRootConformance(root: StorageRoot, base = 'conformance'): Promise<string[]> {
  const fails: string[] = [];
  const eq = (what: string, got: unknown, want: unknown) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) fails.push(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
  };
  await root.removeFolder(base);
  eq('empty listing', await root.list(base), { files: [], folders: [] });
  const a = await root.folder(`${base}/a`);
  await a.write('x.bin', new Uint8Array([1, 2, 3]));
  await a.write('y.json', textBytes('{"v":1}'));
  await a.write('y.json', textBytes('{"v":2}'));
  const deep = await root.folder(`${base}/a/b/c`);
  await deep.write('z.txt', textBytes('deep'));
  await (await root.folder(`${base}/d`)).write('w', new Uint8Array(0));
  eq('list base', await root.list(base), { files: [], folders: ['a', 'd'] });
  eq('list a', await root.list(`${base}/a`), { files: ['x.bin', 'y.json'], folders: ['b'] });
  eq('overwrite', bytesText(await a.read('y.json')), '{"v":2}');
  eq('bytes', Array.from(await a.read('x.bin')), [1, 2, 3]);
  eq('empty file', (await (await root.folder(`${base}/d`)).read('w')).length, 0);
  eq('exists', [await a.exists('x.bin'), await a.exists('nope')], [true, false]);
  eq('deep', bytesText(await (await root.folder(`${base}/a/b/c`)).read('z.txt')), 'deep');
  let missing = '';
  try {
    await a.read('nope');
  } catch (e) {
    missing = (e as Error).message;
  }
  if (!/nope/.test(missing) || !/not found/.test(missing)) fails.push(`missing file error should name it: '${missing}'`);
  await a.remove('x.bin');
  await a.remove('never-there');
  eq('after remove', (await root.list(`${base}/a`)).files, ['y.json']);
  await root.removeFolder(`${base}/a`);
  eq('after removeFolder', await root.list(base), { files: [], folders: ['d'] });
  eq('removed deep', await (await root.folder(`${base}/a/b/c`)).exists('z.txt'), false);
  await root.removeFolder(base);
  eq('all removed', (await root.list('')).folders.includes(base), false);
  return fails;
}
