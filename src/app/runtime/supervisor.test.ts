// WorkerSupervisor bookkeeping with in-process fake workers (the real worker, Web Locks and crash detection
// in Chromium are covered by e2e/faults.e2e.ts).
import { describe, expect, it } from 'vitest';
import { WorkerSupervisor, WORKER_CRASHED } from './supervisor.ts';

interface FakeRemote {
  gen: number;
  echo(x: number): Promise<string>;
  hang(): Promise<never>;
}

function harness(opts: { maxRestarts?: number } = {}) {
  const log: string[] = [];
  const deathCallbacks = new Map<number, () => void>();
  const terminated: number[] = [];
  let clock = 0;
  let spawned = 0;
  let releaseRestore: (() => void) | null = null;
  let holdRestore = false;
  const sup = new WorkerSupervisor<FakeRemote>({
    name: 'test-worker',
    spawn(lockName) {
      const gen = ++spawned;
      expect(lockName).toMatch(new RegExp(`^test-worker/${gen}-[a-z0-9]+$`));
      const remote: FakeRemote = {
        gen,
        echo: async (x) => {
          log.push(`echo ${x} on ${gen}`);
          return `${gen}:${x}`;
        },
        hang: () => new Promise<never>(() => undefined),
      };
      return { remote, terminate: () => terminated.push(gen) };
    },
    async init(remote, restart) {
      log.push(`init ${remote.gen}${restart ? ` (restart: ${restart.reason})` : ''}`);
    },
    async restore(remote) {
      log.push(`restore ${remote.gen}`);
      if (holdRestore) await new Promise<void>((r) => (releaseRestore = r));
    },
    watch(lockName, onDeath) {
      deathCallbacks.set(Number(/\/(\d+)-/.exec(lockName)![1]), onDeath);
      return true;
    },
    onDeath: ({ reason, restarting, generation }) => log.push(`death ${generation} restarting=${restarting}: ${reason.slice(0, 20)}`),
    onRestored: ({ generation, error }) => log.push(`restored ${generation}${error ? ' with error' : ''}`),
    maxRestarts: opts.maxRestarts,
    now: () => clock,
  });
  const kill = (gen: number) => deathCallbacks.get(gen)!();
  return {
    sup,
    log,
    kill,
    terminated,
    tick: (ms: number) => (clock += ms),
    holdRestores: () => (holdRestore = true),
    release: () => releaseRestore?.(),
  };
}

const flush = () => new Promise((r) => setTimeout(r, 0));

describe('WorkerSupervisor', () => {
  it('starts the worker on first use and forwards calls after init', async () => {
    const h = harness();
    expect(h.sup.generations).toBe(0);
    await expect(h.sup.api.echo(1)).resolves.toBe('1:1');
    await expect(h.sup.api.echo(2)).resolves.toBe('1:2');
    expect(h.log).toEqual(['init 1', 'echo 1 on 1', 'echo 2 on 1']);
    expect(h.sup.generations).toBe(1);
    // not a thenable: awaiting the API object itself must not call a remote 'then'
    expect((h.sup.api as unknown as { then?: unknown }).then).toBeUndefined();
  });

  it('a call pending when the worker dies fails with worker-crashed; a new worker is restored before the next call', async () => {
    const h = harness();
    await h.sup.ready();
    const pending = h.sup.api.hang();
    h.holdRestores();
    h.kill(1);
    const err = await pending.then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.name).toBe(`SegStudioError:${WORKER_CRASHED}:`);
    expect(err?.message).toMatch(/stopped.*new worker.*kept/);
    expect(h.terminated).toEqual([1]);
    // the next call waits for generation 2's restore
    const next = h.sup.api.echo(5);
    await flush();
    expect(h.log.filter((l) => l.startsWith('echo'))).toEqual([]);
    h.release();
    await expect(next).resolves.toBe('2:5');
    expect(h.log).toEqual([
      'init 1',
      'death 1 restarting=true: the inference worker',
      'init 2 (restart: the inference worker stopped (it crashed, ran out of memory or was terminated))',
      'restore 2',
      'restored 2',
      'echo 5 on 2',
    ]);
  });

  it('ignores a late death report of a worker it already replaced (planned restart)', async () => {
    const h = harness();
    await h.sup.ready();
    const pending = h.sup.api.hang();
    await h.sup.restart('new GPU device');
    await expect(pending).rejects.toMatchObject({ message: /restarted \(new GPU device\)/ });
    h.kill(1); // the old worker's lock is released only now
    await expect(h.sup.api.echo(7)).resolves.toBe('2:7');
    expect(h.log.filter((l) => l.startsWith('death'))).toEqual([]);
    expect(h.sup.generations).toBe(2);
    expect(h.terminated).toEqual([1]);
  });

  it('stops restarting after maxRestarts deaths within the window; the next call starts a restored worker', async () => {
    const h = harness({ maxRestarts: 2 });
    await h.sup.ready();
    h.kill(1);
    await h.sup.ready();
    h.kill(2);
    await h.sup.ready();
    h.kill(3);
    await flush();
    expect(h.sup.generations).toBe(3);
    expect(h.log.filter((l) => l.startsWith('death'))).toEqual([
      'death 1 restarting=true: the inference worker',
      'death 2 restarting=true: the inference worker',
      'death 3 restarting=false: the inference worker',
    ]);
    await expect(h.sup.api.echo(9)).resolves.toBe('4:9');
    expect(h.log.slice(-3)).toEqual(['restore 4', 'restored 4', 'echo 9 on 4']);
  });

  it('deaths spread over more than the window keep restarting', async () => {
    const h = harness({ maxRestarts: 1 });
    for (let g = 1; g <= 3; g++) {
      await h.sup.ready();
      h.tick(61_000);
      h.kill(g);
    }
    await h.sup.ready();
    expect(h.log.filter((l) => l.includes('restarting=false'))).toEqual([]);
    expect(h.sup.generations).toBe(4);
  });

  it('with hello, a worker that dies during a hanging init is noticed and replaced', async () => {
    const watched: string[] = [];
    const deaths = new Map<number, () => void>();
    let hangInit = true;
    const sup = new WorkerSupervisor<{ gen: number; echo(): Promise<number> }>({
      name: 'w',
      spawn: (lock) => {
        const gen = Number(/\/(\d+)-/.exec(lock)![1]);
        return { remote: { gen, echo: async () => gen }, terminate: () => undefined };
      },
      hello: async (r) => void watched.push(`hello ${r.gen}`),
      init: (r) => (hangInit && r.gen === 1 ? new Promise<void>(() => undefined) : Promise.resolve()),
      watch: (lock, onDeath) => {
        const gen = Number(/\/(\d+)-/.exec(lock)![1]);
        watched.push(`watch ${gen}`);
        deaths.set(gen, onDeath);
        return true;
      },
    });
    const first = sup.api.echo();
    await flush();
    expect(watched).toEqual(['hello 1', 'watch 1']);
    deaths.get(1)!();
    await expect(first).rejects.toMatchObject({ name: `SegStudioError:${WORKER_CRASHED}:` });
    hangInit = false;
    await expect(sup.api.echo()).resolves.toBe(2);
  });
});
