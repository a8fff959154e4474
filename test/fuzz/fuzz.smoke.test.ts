// Smoke run of the fuzz harness (npm run fuzz): 300 cases over every target with a fixed seed, synthetic
// seeds only (no ../shared/data needed), in worker threads with a per-case time bound. Asserts zero bugs:
// every mutated input is either accepted as a sane result or refused with a SegStudioError naming the file.
import { describe, expect, it } from 'vitest';
import { runFuzz } from '../../fuzz/harness.ts';
import { TARGETS } from '../../fuzz/targets.ts';
import { buildCorpus } from '../../fuzz/corpus.ts';
import { Rng } from '../../fuzz/prng.ts';
import { generateCase } from '../../fuzz/targets.ts';

describe('fuzz harness smoke run', () => {
  it('300 cases across all targets, seed 20261122: zero bugs', async () => {
    const s = await runFuzz({ seed: 20261122, cases: 300, seconds: 60, useSharedData: false, ortCases: 2, caseTimeoutMs: 10_000, workers: 2 });
    const examples = s.bugExamples.map((b) => `${b.target}#${b.index} ${b.kind}: ${b.error} [${b.mutations.join('; ')}]`);
    expect(examples).toEqual([]);
    expect(s.totals.bugs).toBe(0);
    expect(s.totalCases).toBe(300);
    for (const t of TARGETS) {
      const c = s.perTarget[t];
      expect(c.cases, t).toBe(30);
      expect(c.accepted + c.rejected, t).toBe(30);
      // mutations must actually produce rejections (the harness is not feeding seeds through unchanged)
      expect(c.rejected, t).toBeGreaterThan(0);
    }
    expect(s.ort?.cases).toBe(2);
  });

  it('cases are deterministic in (seed, target, index)', async () => {
    const corpus = await buildCorpus({ useSharedData: false });
    let differ = 0;
    for (const t of TARGETS) {
      const a = generateCase(t, 17, corpus, Rng.forCase(5, t, 17));
      const b = generateCase(t, 17, corpus, Rng.forCase(5, t, 17));
      const c = generateCase(t, 18, corpus, Rng.forCase(5, t, 18));
      expect(a.mutations).toEqual(b.mutations);
      expect(a.bytes).toEqual(b.bytes);
      expect(a.files ? [...a.files.entries()] : null).toEqual(b.files ? [...b.files.entries()] : null);
      if (JSON.stringify([a.mutations, a.fileName, a.bytes?.length]) !== JSON.stringify([c.mutations, c.fileName, c.bytes?.length])) differ++;
    }
    // another index gives other inputs (for nearly every target)
    expect(differ).toBeGreaterThanOrEqual(TARGETS.length - 2);
  });
});
