// Hostile DICOM headers: seeded random truncations, byte flips and length-field lies of written slices. The
// header reader must never throw anything but its verdict, never loop, and never claim a file is fine when its
// pixel data is short.
import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../util/mulberry32.ts';
import { inspectDicom } from './reader.ts';
import { writeDicomSeries } from './writer.ts';

describe('inspectDicom on mutated files', () => {
  const { files } = writeDicomSeries(
    { data: Float32Array.from({ length: 3 * 6 * 5 }, (_, i) => i * 0.5 - 3), shape: [3, 6, 5], affine: [[-1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 1]] },
    { modality: 'CT' },
  );
  const base = files[1].bytes;

  it('2,000 seeded mutations: a verdict every time, and "ok" only with complete pixel data', () => {
    const rand = mulberry32(2024);
    const counts = { ok: 0, rejected: 0 };
    for (let n = 0; n < 2000; n++) {
      let b = base.slice();
      const op = n % 4;
      if (op === 0) b = b.subarray(0, Math.floor(rand() * b.length));
      else if (op === 1) for (let k = 0; k < 1 + Math.floor(rand() * 8); k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
      else if (op === 2) {
        // lie in a 16- or 32-bit length field somewhere after the preamble
        const at = 132 + Math.floor(rand() * (b.length - 140));
        new DataView(b.buffer).setUint32(at, Math.floor(rand() * 2 ** 32), true);
      } else {
        b = b.subarray(Math.floor(rand() * 200));
      }
      const r = inspectDicom(b);
      expect(typeof r.ok).toBe('boolean');
      if (r.ok) {
        counts.ok++;
        const px = r.info.rows * r.info.columns * r.info.frames * 2;
        expect(b.length).toBeGreaterThanOrEqual(px);
      } else {
        counts.rejected++;
        expect(r.reason.length).toBeGreaterThan(5);
      }
    }
    expect(counts.rejected).toBeGreaterThan(500);
    expect(counts.ok).toBeGreaterThan(100);
  });
});
