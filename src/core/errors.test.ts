import { describe, expect, it } from 'vitest';
import { SegStudioError, guardWorkerCall, isSegStudioError, throwIfCancelled, workerError } from './errors.ts';

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
  it('workerError carries code and file in the name across a worker boundary', () => {
    const own = workerError(new SegStudioError('truncated', 'file is truncated', 'a.nii'), { file: 'b.nii' });
    expect([own.name, own.message]).toEqual(['SegStudioError:truncated:a.nii', 'a.nii: file is truncated']);
    const noFile = workerError(new SegStudioError('cancelled', 'cancelled by the user'), { file: 'b.nii' });
    expect(noFile.name).toBe('SegStudioError:cancelled:b.nii');
    const plain = new TypeError('boom');
    expect(workerError(plain)).toBe(plain);
    expect(workerError('text').message).toBe('text');
    const labelled = workerError(plain, { file: 'x.dcm', otherCode: 'dicom' });
    expect([labelled.name, labelled.message]).toEqual(['SegStudioError:dicom:x.dcm', 'x.dcm: boom']);
  });
  it('guardWorkerCall passes results through and rethrows failures as workerErrors', async () => {
    await expect(guardWorkerCall(async () => 7)).resolves.toBe(7);
    await expect(
      guardWorkerCall(async () => {
        throw new Error('oops');
      }, { file: 'm.onnx', otherCode: 'internal' }),
    ).rejects.toMatchObject({ name: 'SegStudioError:internal:m.onnx', message: 'm.onnx: oops' });
  });
});
