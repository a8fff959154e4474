// `npm run bench [-- NAME...]`: runs every bench/*.bench.ts (or the named ones), each exporting
// `run(): Promise<Record<string, unknown>>`, and writes one JSON file per run to bench/out/ plus stdout.
// Benchmarks hold the speed and memory targets (tests never time anything). Each benchmark measures its
// reference (scipy, PyTorch, onnxruntime alone, …) side by side in the same run and reports medians/ratios.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const files = fs
  .readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => wanted.length === 0 || wanted.some((w) => f.startsWith(w)))
  .sort();

if (!process.env.VK_ICD_FILENAMES && fs.existsSync('/usr/lib/chromium/vk_swiftshader_icd.json')) {
  process.env.VK_ICD_FILENAMES = '/usr/lib/chromium/vk_swiftshader_icd.json';
}

const results: Record<string, unknown> = {};
const meta = {
  date: new Date().toISOString(),
  node: process.version,
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  memoryGiB: +(os.totalmem() / 2 ** 30).toFixed(1),
};
let failed = 0;
for (const f of files) {
  const name = f.replace(/\.bench\.ts$/, '');
  process.stderr.write(`bench: ${name} ...\n`);
  const t0 = performance.now();
  try {
    const mod = (await import(pathToFileURL(path.join(here, f)).href)) as { run: () => Promise<Record<string, unknown>> };
    results[name] = await mod.run();
  } catch (e) {
    failed++;
    results[name] = { error: e instanceof Error ? e.message : String(e) };
  }
  process.stderr.write(`bench: ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
}
const out = { meta, results };
const outDir = path.join(here, 'out');
fs.mkdirSync(outDir, { recursive: true });
const outFile = path.join(outDir, `bench-${meta.date.replace(/[:.]/g, '-')}.json`);
fs.writeFileSync(outFile, JSON.stringify(out, null, 2));
fs.writeFileSync(path.join(outDir, 'latest.json'), JSON.stringify(out, null, 2));
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
process.stderr.write(`bench: wrote ${outFile}\n`);
process.exitCode = failed ? 1 : 0;
