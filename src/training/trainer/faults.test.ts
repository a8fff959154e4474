// Faults during training (issue 7): a lost GPU device mid-epoch, and a process/tab killed in the middle of a
// checkpoint write. The trainer must fail cleanly with a clear reason, leave storage loadable, and a resumed
// run must continue from the last checkpoint and end exactly where the uninterrupted run ends.
import { describe, expect, it } from 'vitest';
import { CpuBackend } from '../kernels/cpu/cpuBackend.ts';
import type { Backend } from '../engine/backend.ts';
import { Trainer, type TrainerEvent, type TrainerOptions } from './trainer.ts';
import { MemoryStorage, bytesText } from './storage.ts';
import { checkpointBinNames, loadCheckpoint, newestCheckpoint, removeCheckpoint, saveCheckpoint } from './checkpoint.ts';
import { blobCase, tinyPlans, TINY_DATASET } from './testing.ts';

const arch = { features: [2, 4], kernel: [3, 3, 3], strides: [[1, 1, 1], [2, 2, 2]], patch: [8, 8, 8], batchSize: 2 };
const cases = [0, 1, 2, 3].map((i) => blobCase(`case_${i}`, [10, 12, 12], 100 + i));

function makeTrainer(backend: Backend, storage: MemoryStorage, onEvent?: (e: TrainerEvent) => void, options: Partial<TrainerOptions> = {}) {
  let t = 1.7e12;
  return Trainer.create({
    backend,
    plans: tinyPlans(arch),
    configuration: '3d_fullres',
    dataset: TINY_DATASET,
    fold: 0,
    trainCases: cases.slice(0, 3),
    valCases: cases.slice(3),
    storage,
    options: { numEpochs: 3, iterationsPerEpoch: 2, valIterationsPerEpoch: 1, seed: 7, augmentation: false, ...options },
    clock: () => (t += 250),
    onEvent,
  });
}

/**
 * A CPU backend that behaves like a WebGPU backend whose device gets destroyed: it exposes `device.lost`, and
 * once `lose()` is called every download rejects (as mapAsync does on a destroyed device) and `lost` resolves
 * a little later (browsers resolve it asynchronously).
 */
function losableBackend(): { backend: Backend; lose: () => void } {
  const inner = new CpuBackend('float32');
  let lostNow = false;
  let resolveLost: (info: { reason: string; message: string }) => void = () => {};
  const lost = new Promise<{ reason: string; message: string }>((r) => (resolveLost = r));
  const backend = new Proxy(inner, {
    get(target, prop, recv) {
      if (prop === 'device') return { lost };
      if (prop === 'download')
        return async (t: Parameters<Backend['download']>[0]) => {
          if (lostNow) throw new DOMException('Failed to execute mapAsync: Device is lost', 'OperationError');
          return target.download(t);
        };
      const v = Reflect.get(target, prop, recv);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  }) as Backend;
  return {
    backend,
    lose: () => {
      lostNow = true;
      setTimeout(() => resolveLost({ reason: 'destroyed', message: 'Device was destroyed.' }), 20);
    },
  };
}

describe('GPU device lost mid-training', () => {
  it("fails with 'gpu-device-lost' and a reason event, keeps checkpoint_latest whole, and a resume finishes like the uninterrupted run", async () => {
    const full = await makeTrainer(new CpuBackend('float32'), new MemoryStorage());
    await full.run();
    const ref = await full.network.getStateDict();

    const st = new MemoryStorage('mem');
    const events: TrainerEvent[] = [];
    const { backend, lose } = losableBackend();
    let tr: Trainer | null = null;
    tr = await makeTrainer(backend, st, (e) => {
      events.push(e);
      if (e.type === 'iteration' && e.epoch === 1 && e.phase === 'train' && e.iteration === 0) lose();
    });
    await expect(tr.run()).rejects.toMatchObject({ code: 'gpu-device-lost' });
    expect(tr.state).toBe('failed');
    const err = events.find((e) => e.type === 'error');
    expect(err).toMatchObject({ type: 'error', code: 'gpu-device-lost', epoch: 1, resumeFrom: 'latest' });
    expect(err && err.type === 'error' ? err.message : '').toMatch(/GPU device was lost \(destroyed: Device was destroyed\.\) during epoch 1.*resume/);
    expect(events.at(-1)).toMatchObject({ type: 'state', state: 'failed' });
    // the half-done epoch is not a checkpoint: run() refuses without a restore
    await expect(tr.run()).rejects.toThrow(/restore a checkpoint/);
    // storage: checkpoint_latest of epoch 0 loads; the log says what happened
    expect((await loadCheckpoint(st, 'latest')).meta.current_epoch).toBe(1);
    expect(bytesText(await st.read('training_log.txt'))).toMatch(/Training failed during epoch 1: .*GPU device was lost/);
    tr.dispose();

    // resume on another backend (the CPU fallback)
    const resumed = await makeTrainer(new CpuBackend('float32'), st);
    expect(await resumed.restore()).toBe('latest');
    expect(resumed.currentEpoch).toBe(1);
    expect((await resumed.run()).status).toBe('finished');
    const got = await resumed.network.getStateDict();
    for (const k of Object.keys(ref)) expect(Array.from(got[k].data)).toEqual(Array.from(ref[k].data));
    full.dispose();
    resumed.dispose();
  });

  it('an ordinary error inside an epoch becomes a SegStudioError naming the run and the epoch', async () => {
    const inner = new CpuBackend('float32');
    let calls = 0;
    const backend = new Proxy(inner, {
      get(target, prop, recv) {
        if (prop === 'download')
          return async (t: Parameters<Backend['download']>[0]) => {
            if (++calls > 0) throw new Error('out of memory');
            return target.download(t);
          };
        const v = Reflect.get(target, prop, recv);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as Backend;
    const events: TrainerEvent[] = [];
    const tr = await makeTrainer(backend, new MemoryStorage('runs/x'), (e) => events.push(e));
    await expect(tr.run()).rejects.toThrow(/^runs\/x: training failed during epoch 0: out of memory$/);
    expect(events.find((e) => e.type === 'error')).toMatchObject({ code: 'training', resumeFrom: null });
    tr.dispose();
  });
});

/** Storage that dies (throws, as a killed tab would stop) on the n-th write. */
class DyingStorage extends MemoryStorage {
  writes = 0;
  dieAt = Infinity;
  override async write(name: string, bytes: Uint8Array): Promise<void> {
    if (++this.writes === this.dieAt) throw new Error(`killed while writing ${name}`);
    return super.write(name, bytes);
  }
}

describe('checkpoint writes survive a kill at any point', () => {
  it('the tensor file alternates; killed before or after the .bin, the previous checkpoint still loads', async () => {
    const tr = await makeTrainer(new CpuBackend('float32'), new MemoryStorage());
    const d1 = await tr.checkpointData();
    const d2 = { ...d1, meta: { ...d1.meta, current_epoch: 5 } };
    const [a, b] = checkpointBinNames('latest');
    for (const dieAt of [1, 2]) {
      const st = new DyingStorage();
      await saveCheckpoint(st, 'latest', d1);
      expect([...st.files.keys()].sort()).toEqual([a, 'checkpoint_latest.json'].sort());
      await saveCheckpoint(st, 'latest', d2);
      expect([...st.files.keys()].sort()).toEqual([b, 'checkpoint_latest.json'].sort());
      expect((await loadCheckpoint(st, 'latest')).meta.current_epoch).toBe(5);
      // third save is killed at its first (the .bin) or second (the .json) write
      st.writes = 0;
      st.dieAt = dieAt;
      await expect(saveCheckpoint(st, 'latest', { ...d1, meta: { ...d1.meta, current_epoch: 9 } })).rejects.toThrow(/killed/);
      expect(await newestCheckpoint(st)).toBe('latest');
      expect((await loadCheckpoint(st, 'latest')).meta.current_epoch).toBe(5);
      await removeCheckpoint(st, 'latest');
      expect(st.files.size).toBe(0);
    }
    tr.dispose();
  });

  it('a .json whose tensor file is gone is not offered for resume', async () => {
    const tr = await makeTrainer(new CpuBackend('float32'), new MemoryStorage());
    const st = new MemoryStorage('m');
    await saveCheckpoint(st, 'best', await tr.checkpointData());
    await saveCheckpoint(st, 'latest', await tr.checkpointData());
    await st.remove(checkpointBinNames('latest')[0]);
    expect(await newestCheckpoint(st)).toBe('best');
    await expect(loadCheckpoint(st, 'latest')).rejects.toThrow(/m\/checkpoint_latest\.json: its tensor file checkpoint_latest\.bin is missing/);
    tr.dispose();
  });
});
