// The fuzz harness: generates cases (deterministic from the run seed), runs them in a pool of worker
// threads with a per-case time bound (a hang is cut off with worker.terminate()), classifies every outcome
// and summarises. Used by `npm run fuzz` (fuzz/run.ts) and the smoke test (test/fuzz/fuzz.smoke.test.ts).
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';
import { buildCorpus, type Corpus } from './corpus.ts';
import { Rng } from './prng.ts';
import { generateCase, TARGETS, type FuzzCase, type TargetName } from './targets.ts';
import type { BugKind, Outcome } from './execute.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..');

export interface FuzzOptions {
  seed?: number;
  /** total cases over all targets (default 12000) */
  cases?: number;
  /** wall-clock bound for generating/running cases (default 300 s) */
  seconds?: number;
  targets?: readonly TargetName[];
  /** per-case time bound (ms) before it is called a hang (default 2000) */
  caseTimeoutMs?: number;
  workers?: number;
  /** how many decodable mutated ONNX files also go through onnxruntime-node session creation (default 24; 0 = off) */
  ortCases?: number;
  useSharedData?: boolean;
  corpus?: Corpus;
  /** where to save crashing inputs (default: none) */
  saveDir?: string;
  onProgress?: (done: number, total: number) => void;
}

export interface BugExample {
  target: TargetName;
  index: number;
  kind: BugKind;
  error: string;
  seedName: string;
  mutations: string[];
  fileName: string;
  stack?: string;
  savedAs?: string;
}

export interface TargetCounts {
  cases: number;
  accepted: number;
  rejected: number;
  bugs: number;
  maxMs: number;
}

export interface FuzzSummary {
  seed: number;
  requestedCases: number;
  totalCases: number;
  seconds: number;
  timedOut: boolean;
  caseTimeoutMs: number;
  workers: number;
  realSeeds: string[];
  perTarget: Record<string, TargetCounts>;
  totals: { accepted: number; rejected: number; bugs: number };
  bugsByKind: Record<string, number>;
  /** first examples per (target, kind, message) class */
  bugExamples: BugExample[];
  /** rejection codes seen per target (how many each) */
  rejectionCodes: Record<string, Record<string, number>>;
  ort?: { cases: number; accepted: number; rejected: number; bugs: number; examples: BugExample[] };
}

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  current: FuzzCase | null;
  timer: NodeJS.Timeout | null;
  resolve: ((o: Outcome) => void) | null;
  dead: boolean;
}

function spawnSlot(): Slot {
  const worker = new Worker(path.join(here, 'worker.mjs'), { resourceLimits: { maxOldGenerationSizeMb: 2048 } });
  const slot: Slot = { worker, ready: Promise.resolve(), current: null, timer: null, resolve: null, dead: false };
  slot.ready = new Promise((res, rej) => {
    const onMsg = (m: unknown) => {
      if (m === 'ready') {
        worker.off('message', onMsg);
        res();
      }
    };
    worker.on('message', onMsg);
    worker.once('error', rej);
  });
  worker.on('message', (m: { outcome?: Outcome }) => {
    if (m && typeof m === 'object' && m.outcome && slot.resolve) {
      const r = slot.resolve;
      slot.resolve = null;
      if (slot.timer) clearTimeout(slot.timer);
      r(m.outcome);
    }
  });
  const fail = (kind: BugKind, msg: string) => {
    slot.dead = true;
    if (slot.resolve) {
      const r = slot.resolve;
      slot.resolve = null;
      if (slot.timer) clearTimeout(slot.timer);
      r({ cls: 'bug', bug: kind, error: msg, ms: 0 });
    }
  };
  worker.on('error', (e: Error & { code?: string }) => fail(e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? 'absurd-allocation' : 'worker-crash', `${e.code ?? e.name}: ${e.message}`));
  worker.on('exit', (code) => fail('worker-crash', `worker exited with code ${code}`));
  return slot;
}

async function runOnSlot(slot: Slot, c: FuzzCase, timeoutMs: number): Promise<Outcome> {
  await slot.ready;
  return new Promise<Outcome>((resolve) => {
    slot.resolve = resolve;
    slot.current = c;
    slot.timer = setTimeout(() => {
      if (!slot.resolve) return;
      const r = slot.resolve;
      slot.resolve = null;
      slot.dead = true;
      void slot.worker.terminate();
      r({ cls: 'bug', bug: 'hang', error: `no result within ${timeoutMs} ms (worker terminated)`, ms: timeoutMs });
    }, timeoutMs);
    slot.worker.postMessage(c);
  });
}

function caseBytes(c: FuzzCase): Uint8Array {
  if (c.bytes) return c.bytes;
  // bundle given as files: a simple length-prefixed archive (name\0len\0bytes) for saving
  const parts: Uint8Array[] = [];
  const enc = new TextEncoder();
  for (const [k, v] of c.files ?? []) {
    parts.push(enc.encode(`${k}\0${v.length}\0`), v);
  }
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function emptyCounts(): TargetCounts {
  return { cases: 0, accepted: 0, rejected: 0, bugs: 0, maxMs: 0 };
}

/** Regenerates one case exactly as a run with this seed did. */
export function regenerate(corpus: Corpus, seed: number, target: TargetName, index: number): FuzzCase {
  return generateCase(target, index, corpus, Rng.forCase(seed, target, index));
}

export async function runFuzz(opts: FuzzOptions = {}): Promise<FuzzSummary> {
  const seed = opts.seed ?? 1;
  const total = opts.cases ?? 12000;
  const seconds = opts.seconds ?? 300;
  const targets = opts.targets ?? TARGETS;
  const timeoutMs = opts.caseTimeoutMs ?? 2000;
  const nWorkers = Math.max(1, opts.workers ?? Math.min(2, os.cpus().length));
  const corpus = opts.corpus ?? (await buildCorpus({ useSharedData: opts.useSharedData }));
  const t0 = Date.now();

  const perTarget: Record<string, TargetCounts> = Object.fromEntries(targets.map((t) => [t, emptyCounts()]));
  const rejectionCodes: Record<string, Record<string, number>> = Object.fromEntries(targets.map((t) => [t, {}]));
  const bugsByKind: Record<string, number> = {};
  const bugExamples: BugExample[] = [];
  const exampleKeys = new Map<string, number>();
  const ortCandidates: FuzzCase[] = [];
  const ortWanted = opts.ortCases ?? 24;
  let done = 0;
  let next = 0;
  let timedOut = false;

  const slots: Slot[] = Array.from({ length: nWorkers }, () => spawnSlot());

  const record = (c: FuzzCase, o: Outcome) => {
    const pt = perTarget[c.target];
    pt.cases++;
    pt.maxMs = Math.max(pt.maxMs, Math.round(o.ms));
    if (o.cls === 'accepted') {
      pt.accepted++;
      if (c.target === 'onnx' && ortCandidates.length < 4 * ortWanted && c.index % 7 === 0) ortCandidates.push(c);
    } else if (o.cls === 'rejected') {
      pt.rejected++;
      const code = o.code ?? '?';
      rejectionCodes[c.target][code] = (rejectionCodes[c.target][code] ?? 0) + 1;
    } else {
      pt.bugs++;
      const kind = o.bug ?? 'exception';
      bugsByKind[kind] = (bugsByKind[kind] ?? 0) + 1;
      const key = `${c.target}|${kind}|${(o.error ?? '').replace(/\d+/g, 'N').slice(0, 80)}`;
      const seen = exampleKeys.get(key) ?? 0;
      exampleKeys.set(key, seen + 1);
      if (seen < 2 && bugExamples.length < 200) {
        const ex: BugExample = { target: c.target, index: c.index, kind, error: o.error ?? '', seedName: c.seedName, mutations: c.mutations, fileName: c.fileName, stack: o.stack };
        if (opts.saveDir) {
          fs.mkdirSync(opts.saveDir, { recursive: true });
          ex.savedAs = path.join(opts.saveDir, `${c.target}-${seed}-${c.index}.bin`);
          fs.writeFileSync(ex.savedAs, caseBytes(c));
        }
        bugExamples.push(ex);
      }
    }
  };

  const perTargetIndex: Record<string, number> = Object.fromEntries(targets.map((t) => [t, 0]));
  const nextCase = (): FuzzCase | null => {
    if (next >= total) return null;
    if (Date.now() - t0 > seconds * 1000) {
      timedOut = true;
      return null;
    }
    const target = targets[next % targets.length];
    next++;
    const index = perTargetIndex[target]++;
    return regenerate(corpus, seed, target, index);
  };

  await Promise.all(
    slots.map(async (_, si) => {
      for (;;) {
        const c = nextCase();
        if (!c) return;
        let slot = slots[si];
        if (slot.dead) {
          slot = slots[si] = spawnSlot();
        }
        const o = await runOnSlot(slot, c, timeoutMs);
        if (slots[si].dead) {
          void slots[si].worker.terminate();
          slots[si] = spawnSlot();
        }
        record(c, o);
        done++;
        opts.onProgress?.(done, total);
      }
    }),
  );
  for (const s of slots) {
    s.dead = true;
    s.resolve = null;
    await s.worker.terminate();
  }

  let ort: FuzzSummary['ort'];
  if (ortWanted > 0 && ortCandidates.length > 0) ort = await ortCheck(ortCandidates.slice(0, ortWanted), opts.saveDir);

  const totals = { accepted: 0, rejected: 0, bugs: 0 };
  for (const t of Object.values(perTarget)) {
    totals.accepted += t.accepted;
    totals.rejected += t.rejected;
    totals.bugs += t.bugs;
  }
  if (ort) totals.bugs += ort.bugs;
  return {
    seed,
    requestedCases: total,
    totalCases: done,
    seconds: (Date.now() - t0) / 1000,
    timedOut,
    caseTimeoutMs: timeoutMs,
    workers: nWorkers,
    realSeeds: corpus.realSeeds,
    perTarget,
    totals,
    bugsByKind,
    bugExamples,
    rejectionCodes,
    ort,
  };
}

/**
 * onnxruntime-node session creation for mutated-but-decodable ONNX files, in a child process (a native
 * crash or hang kills only the child): bounded at 30 s per model.
 */
export async function ortCheck(cases: FuzzCase[], saveDir?: string): Promise<NonNullable<FuzzSummary['ort']>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'segstudio-fuzz-ort-'));
  const files = cases.map((c, i) => {
    const f = path.join(dir, `case_${i}.onnx`);
    fs.writeFileSync(f, c.bytes!);
    return f;
  });
  const res = { cases: 0, accepted: 0, rejected: 0, bugs: 0, examples: [] as BugExample[] };
  const bug = (i: number, kind: BugKind, error: string) => {
    res.bugs++;
    const c = cases[i];
    const ex: BugExample = { target: 'onnx', index: c.index, kind, error, seedName: c.seedName, mutations: c.mutations, fileName: c.fileName };
    if (saveDir) {
      fs.mkdirSync(saveDir, { recursive: true });
      ex.savedAs = path.join(saveDir, `ort-${c.index}.onnx`);
      fs.copyFileSync(files[i], ex.savedAs);
    }
    res.examples.push(ex);
  };
  let from = 0;
  while (from < files.length) {
    const batch = files.slice(from);
    const startedAt = from;
    const finished = await new Promise<number>((resolve) => {
      const child = spawn(process.execPath, [path.join(repoRoot, 'bin/run-ts.mjs'), path.join(here, 'ortChild.ts'), ...batch], { stdio: ['ignore', 'pipe', 'pipe'] });
      let buf = '';
      let current = -1;
      let watchdog: NodeJS.Timeout | null = null;
      const arm = () => {
        if (watchdog) clearTimeout(watchdog);
        watchdog = setTimeout(() => {
          child.kill('SIGKILL');
          if (current >= 0) bug(startedAt + current, 'ort-hang', 'onnxruntime-node session creation took over 30 s');
          resolve(startedAt + current + 1);
        }, 30_000);
      };
      arm();
      child.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          let m: { start?: string; done?: string; cls?: string; error?: string };
          try {
            m = JSON.parse(line);
          } catch {
            continue;
          }
          if (m.start) {
            current = batch.indexOf(m.start);
            arm();
          } else if (m.done) {
            res.cases++;
            if (m.cls === 'accepted') res.accepted++;
            else if (m.cls === 'rejected') res.rejected++;
            else bug(startedAt + current, 'exception', m.error ?? '');
            current = -1;
          }
        }
      });
      child.on('exit', (code, signal) => {
        if (watchdog) clearTimeout(watchdog);
        if (current >= 0 && (code !== 0 || signal)) {
          res.cases++;
          bug(startedAt + current, 'ort-crash', `onnxruntime-node child died (code ${code}, signal ${signal})`);
          resolve(startedAt + current + 1);
        } else resolve(files.length);
      });
    });
    from = Math.max(finished, from + 1);
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return res;
}
