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
