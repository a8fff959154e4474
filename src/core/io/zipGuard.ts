// Zip archives state each member's uncompressed size in their headers, and fflate's unzipSync allocates that
// much before inflating. A corrupt or hostile header (fuzz finding: a 2 KB .npz claiming 3 GB) must be refused
// before that allocation: deflate cannot expand more than ~1032:1, so a larger claim is a lie.
import { SegStudioError } from '../errors.ts';
import { MAX_DEFLATE_RATIO } from './gzip.ts';

export interface ZipEntryInfo {
  name: string;
  size: number;
  originalSize: number;
  compression: number;
}

/**
 * Throws SegStudioError when a zip member claims more compressed bytes than the archive has, or an
 * uncompressed size its compressed bytes cannot hold.
 */
export function checkZipEntry(f: ZipEntryInfo, archiveName: string, archiveBytes: number, code = 'zip'): void {
  if (!(f.size >= 0) || f.size > archiveBytes) {
    throw new SegStudioError(code, `archive member ${f.name} claims ${f.size} compressed bytes in a ${archiveBytes}-byte archive; corrupt zip header`, archiveName);
  }
  const limit = f.compression === 0 ? f.size : f.size * MAX_DEFLATE_RATIO + 65536;
  if (!(f.originalSize >= 0) || f.originalSize > limit) {
    throw new SegStudioError(code, `archive member ${f.name} claims ${f.originalSize} bytes from ${f.size} compressed bytes; corrupt zip header`, archiveName);
  }
}
