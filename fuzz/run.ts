// npm run fuzz -- [--seed N] [--cases N] [--seconds S] [--target nifti|gzip|png|datasetjson|plans|bundle|onnx|modelcard|npz|postprocessing|all]
//                 [--timeout MS] [--workers N] [--ort N] [--no-shared-data] [--case TARGET:INDEX]
// Prints a JSON summary to stdout and writes it (plus crashing inputs) under fuzz/out/. Exit code 1 when a
// bug (uncaught non-SegStudioError exception, hang, crash, absurd allocation, unnamed rejection) was found.
import fs from 'node:fs';
import path from 'node:path';
import { buildCorpus } from './corpus.ts';
import { regenerate, repoRoot, runFuzz } from './harness.ts';
import { runCase } from './execute.ts';
import { TARGETS, type TargetName } from './targets.ts';

function parseArgs(argv: string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument '${a}'`);
    const [k, v] = a.slice(2).split('=', 2);
    if (v !== undefined) out[k] = v;
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[k] = argv[++i];
    else out[k] = true;
  }
  return out;
}

const USAGE = `usage: npm run fuzz -- [--seed N] [--cases N] [--seconds S] [--target ${TARGETS.join('|')}|all[,…]]
       [--timeout MS] [--workers N] [--ort N] [--no-shared-data] [--case TARGET:INDEX]`;

function num(v: string | true | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (v === true || !Number.isFinite(n) || n < 0) throw new Error(`--${name} needs a non-negative number`);
  return n;
}

async function main(): Promise<number> {
  let a: Record<string, string | true>;
  try {
    a = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (a.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const known = new Set(['seed', 'cases', 'seconds', 'target', 'timeout', 'workers', 'ort', 'no-shared-data', 'case', 'help']);
  for (const k of Object.keys(a)) if (!known.has(k)) {
    process.stderr.write(`unknown option --${k}\n${USAGE}\n`);
    return 2;
  }
  const seed = num(a.seed, 'seed', 1);
  const outDir = path.join(repoRoot, 'fuzz', 'out');
  fs.mkdirSync(outDir, { recursive: true });

  if (typeof a.case === 'string') {
    // Reproduce one case: regenerate, save the input, run it in this process and print the outcome.
    const [t, i] = a.case.split(':');
    if (!(TARGETS as readonly string[]).includes(t) || !/^\d+$/.test(i ?? '')) {
      process.stderr.write(`--case needs TARGET:INDEX\n`);
      return 2;
    }
    const corpus = await buildCorpus({ useSharedData: !a['no-shared-data'] });
    const c = regenerate(corpus, seed, t as TargetName, Number(i));
    const o = await runCase(c);
    const f = path.join(outDir, `case-${t}-${seed}-${i}.bin`);
    if (c.bytes) fs.writeFileSync(f, c.bytes);
    process.stdout.write(JSON.stringify({ case: { ...c, bytes: undefined, files: c.files ? [...c.files.keys()] : undefined }, saved: c.bytes ? f : undefined, outcome: o }, null, 2) + '\n');
    return o.cls === 'bug' ? 1 : 0;
  }

  let targets: TargetName[] = [...TARGETS];
  if (typeof a.target === 'string' && a.target !== 'all') {
    targets = a.target.split(',') as TargetName[];
    const badT = targets.find((t) => !(TARGETS as readonly string[]).includes(t));
    if (badT) {
      process.stderr.write(`unknown target '${badT}'\n${USAGE}\n`);
      return 2;
    }
  }
  const cases = num(a.cases, 'cases', 12000);
  let lastPrint = 0;
  const summary = await runFuzz({
    seed,
    cases,
    seconds: num(a.seconds, 'seconds', 300),
    targets,
    caseTimeoutMs: num(a.timeout, 'timeout', 2000),
    workers: a.workers === undefined ? undefined : num(a.workers, 'workers', 2),
    ortCases: num(a.ort, 'ort', 24),
    useSharedData: !a['no-shared-data'],
    saveDir: path.join(outDir, 'crashers'),
    onProgress: (done, total) => {
      const now = Date.now();
      if (now - lastPrint > 5000 || done === total) {
        lastPrint = now;
        process.stderr.write(`fuzz: ${done}/${total} cases\n`);
      }
    },
  });
  const text = JSON.stringify(summary, null, 2);
  fs.writeFileSync(path.join(outDir, `summary-seed${seed}.json`), text + '\n');
  process.stdout.write(text + '\n');
  return summary.totals.bugs > 0 ? 1 : 0;
}

process.exitCode = await main();
