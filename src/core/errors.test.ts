import { describe, expect, it } from 'vitest';
import { SegStudioError, isSegStudioError, throwIfCancelled } from './errors.ts';

describe('SegStudioError', () => {
  it('names the file and the problem', () => {
    const e = new SegStudioError('truncated', 'file is truncated (352 of 1000 bytes)', 'scan.nii');
    expect(e.message).toBe('scan.nii: file is truncated (352 of 1000 bytes)');
    expect(isSegStudioError(e)).toBe(true);
    expect(isSegStudioError(new Error('x'))).toBe(false);
  });
  it('throwIfCancelled throws only when aborted', () => {
    expect(() => throwIfCancelled({ aborted: false })).not.toThrow();
    expect(() => throwIfCancelled({ aborted: true })).toThrow(/cancelled/);
  });
});
