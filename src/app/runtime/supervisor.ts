// Keeps the page's inference worker alive: notices when it dies (crash, out-of-memory kill, self.close(),
// terminate()), fails the calls that were waiting on it with a clear error instead of hanging, and starts a
// new worker that the page restores (image, model) before any further call reaches it.
//
// Death detection uses the Web Locks API: each worker holds an exclusive lock named after itself for its
// whole life (holdLifeLock, worker side); the page queues a request for the same lock (watchLifeLock), which
// the browser grants only when the worker's global scope is gone, whatever the cause. Without Web Locks
// (very old browsers) a dead worker is not detected and its pending calls wait, as before.
//
// Plain TypeScript with injected spawn/watch functions, so the bookkeeping is unit-tested in Node.

/** Error name the page's reportError() understands: 'SegStudioError:code:file'. */
export const WORKER_CRASHED = 'worker-crashed';

export function workerCrashedError(reason: string): Error {
  const e = new Error(reason);
  e.name = `SegStudioError:${WORKER_CRASHED}:`;
  return e;
}

export interface Spawned<R> {
  remote: R;
  terminate(): void;
}

export interface SupervisorOptions<R> {
  /** worker name prefix; each worker's lock is `${name}/${generation}-${random}` */
  name: string;
  /** starts one worker; `lockName` must reach the worker (e.g. as its Worker name) */
  spawn(lockName: string): Spawned<R>;
  /** a cheap first call that returns once the worker holds its life lock (so death is watched from then on) */
  hello?(remote: R): Promise<void>;
  /** first call on a new worker (without `hello`: must not return before the worker holds its life lock) */
  init(remote: R, restart: { reason: string } | null): Promise<void>;
  /** after init on a restarted worker: reload what the page had loaded (image, model) */
  restore?(remote: R, reason: string): Promise<void>;
  /** calls back once when the lock's holder is gone; false when death cannot be detected here */
  watch?(lockName: string, onDeath: () => void): boolean;
  /** the worker died and a new one is being started (or not: `restarting` false after too many deaths) */
  onDeath?(info: { reason: string; restarting: boolean; generation: number }): void;
  /** a restarted worker is ready (restore finished, or failed with `error`) */
  onRestored?(info: { generation: number; error?: unknown }): void;
  /** at most this many unplanned deaths per `windowMs` are followed by a restart (default 3 per 60 s) */
  maxRestarts?: number;
  windowMs?: number;
  now?: () => number;
}

interface Generation<R> {
  id: number;
  spawned: Spawned<R>;
  alive: boolean;
  died: Promise<never>;
  kill: (e: Error) => void;
  ready: Promise<Generation<R>>;
}

export class WorkerSupervisor<R extends object> {
  private current: Generation<R> | null = null;
  private generation = 0;
  private deaths: number[] = [];
  private gaveUp = false;
  /** the worker's API: every call waits for a ready worker and fails (instead of hanging) if it dies */
  readonly api: R;

  constructor(private readonly o: SupervisorOptions<R>) {
    this.api = new Proxy({} as R, {
      get: (_t, prop) => {
        if (prop === 'then' || typeof prop === 'symbol') return undefined;
        return (...args: unknown[]) => this.call(prop, args);
      },
    });
  }

  /** number of workers started so far (1 after the first start) */
  get generations(): number {
    return this.generation;
  }

  /** the live worker, started on first use */
  ready(): Promise<R> {
    return this.ensure().ready.then((g) => g.spawned.remote);
  }

  private ensure(): Generation<R> {
    if (this.current) return this.current;
    // after too many deaths in a row, the next call (a user action) starts a worker again, restored
    const restart = this.gaveUp ? { reason: 'started again after repeated failures' } : null;
    this.gaveUp = false;
    return this.start(restart);
  }

  private async call(prop: string, args: unknown[]): Promise<unknown> {
    const g = await this.ensure().ready;
    const fn = (g.spawned.remote as Record<string, unknown>)[prop];
    if (typeof fn !== 'function') throw new TypeError(`the worker has no method ${prop}`);
    // a direct call: Comlink's remote treats `.apply`/`.call` as remote property names
    return Promise.race([(fn as (...a: unknown[]) => Promise<unknown>)(...args), g.died]);
  }

  private start(restart: { reason: string } | null): Generation<R> {
    const id = ++this.generation;
    const lockName = `${this.o.name}/${id}-${Math.random().toString(36).slice(2, 10)}`;
    let kill!: (e: Error) => void;
    const died = new Promise<never>((_, reject) => {
      kill = reject;
    });
    died.catch(() => undefined);
    const spawned = this.o.spawn(lockName);
    const g: Generation<R> = { id, spawned, alive: true, died, kill, ready: null as unknown as Promise<Generation<R>> };
    this.current = g;
    g.ready = (async () => {
      const watch = () => this.o.watch?.(lockName, () => this.onDied(g, 'the inference worker stopped (it crashed, ran out of memory or was terminated)'));
      // the worker holds its life lock once hello (or, without it, init) has returned
      if (this.o.hello) {
        await Promise.race([this.o.hello(spawned.remote), died]);
        watch();
        await Promise.race([this.o.init(spawned.remote, restart), died]);
      } else {
        await Promise.race([this.o.init(spawned.remote, restart), died]);
        watch();
      }
      if (restart && this.o.restore) {
        try {
          await Promise.race([this.o.restore(spawned.remote, restart.reason), died]);
          this.o.onRestored?.({ generation: id });
        } catch (error) {
          if (g.alive) this.o.onRestored?.({ generation: id, error });
        }
      }
      return g;
    })();
    g.ready.catch(() => undefined);
    return g;
  }

  private onDied(g: Generation<R>, reason: string): void {
    if (!g.alive) return;
    g.alive = false;
    g.kill(workerCrashedError(`${reason}; a new worker was started with your image and model — results so far are kept`));
    try {
      g.spawned.terminate();
    } catch {
      /* already gone */
    }
    if (this.current !== g) return;
    this.current = null;
    const now = (this.o.now ?? Date.now)();
    const windowMs = this.o.windowMs ?? 60_000;
    this.deaths = this.deaths.filter((t) => now - t < windowMs);
    this.deaths.push(now);
    const restarting = this.deaths.length <= (this.o.maxRestarts ?? 3);
    this.o.onDeath?.({ reason, restarting, generation: g.id });
    if (restarting) this.start({ reason });
    else this.gaveUp = true;
  }

  /** Planned restart (e.g. to get a fresh GPU device after a loss): the old worker is terminated, calls in flight on it fail. */
  async restart(reason: string): Promise<void> {
    const old = this.current;
    if (old) {
      old.alive = false;
      old.kill(workerCrashedError(`the inference worker was restarted (${reason})`));
      try {
        old.spawned.terminate();
      } catch {
        /* already gone */
      }
    }
    this.current = null;
    await this.start({ reason }).ready;
  }

  /** Test hook: terminate the live worker without telling the supervisor (it must notice by itself). */
  terminateForTest(): boolean {
    if (!this.current) return false;
    this.current.spawned.terminate();
    return true;
  }
}

type LockManagerLike = { request(name: string, cb: () => Promise<unknown> | unknown): Promise<unknown> };

function locksOf(): LockManagerLike | null {
  const nav = (globalThis as unknown as { navigator?: { locks?: LockManagerLike } }).navigator;
  return nav?.locks ?? null;
}

/** Page side: `onDeath` runs once the worker holding `lockName` is gone. */
export function watchLifeLock(lockName: string, onDeath: () => void): boolean {
  const locks = locksOf();
  if (!locks) return false;
  locks
    .request(lockName, () => {
      onDeath();
    })
    .catch(() => undefined);
  return true;
}

/** Worker side: holds the lock named `lockName` until the worker ends; resolves once it is held. */
export function holdLifeLock(lockName: string): Promise<void> {
  const locks = locksOf();
  if (!locks || !lockName) return Promise.resolve();
  return new Promise<void>((resolve) => {
    locks
      .request(lockName, () => {
        resolve();
        return new Promise<never>(() => undefined);
      })
      .catch(() => resolve());
  });
}
