// One error type for every user-facing failure: it names the file (or object) and the problem, so the
// page can show it in a banner and the CLI can print it on one line.

export class SegStudioError extends Error {
  readonly file?: string;
  readonly code: string;

  constructor(code: string, message: string, file?: string) {
    super(file ? `${file}: ${message}` : message);
    this.name = 'SegStudioError';
    this.code = code;
    this.file = file;
  }
}

export function isSegStudioError(e: unknown): e is SegStudioError {
  return e instanceof Error && e.name === 'SegStudioError';
}

/** Throws if the operation was cancelled. */
export function throwIfCancelled(signal?: { aborted: boolean }): void {
  if (signal?.aborted) throw new SegStudioError('cancelled', 'cancelled by the user');
}

/**
 * The error a worker throws back to the page. Comlink keeps only name and message, so a SegStudioError's code
 * and file travel in the name as `SegStudioError:<code>:<file>` (the page parses it back). Other errors pass
 * through unchanged, or — with `otherCode` — become `SegStudioError:<otherCode>:<file>` with the file named.
 */
export function workerError(e: unknown, opts: { file?: string; otherCode?: string } = {}): Error {
  const { file, otherCode } = opts;
  if (isSegStudioError(e)) {
    const err = new Error(e.message);
    err.name = `SegStudioError:${e.code}:${e.file ?? file ?? ''}`;
    return err;
  }
  if (otherCode === undefined) return e instanceof Error ? e : new Error(String(e));
  const msg = e instanceof Error ? e.message : String(e);
  const err = new Error(file ? `${file}: ${msg}` : msg);
  err.name = `SegStudioError:${otherCode}:${file ?? ''}`;
  return err;
}

/** Runs one worker call, rethrowing failures as `workerError`s. */
export async function guardWorkerCall<T>(fn: () => Promise<T>, opts: { file?: string; otherCode?: string } = {}): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw workerError(e, opts);
  }
}
