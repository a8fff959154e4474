// Format dispatch and nnU-Net file-name helpers. The bytes decide the format (magic numbers); the name is only
// a hint, used when the bytes are not recognised and to pick the output format when writing.
import { SegStudioError } from '../errors.ts';
import type { Image, ImageProperties, LabelMap } from '../types.ts';
import { gzipAsync, isGzip, plainBytes } from './gzip.ts';
import { gzipNiftiRuns, niftiToImage, readNifti, readNiftiAsync, writeSegmentationNifti } from './nifti.ts';
import { detectNiftiVersion } from './niftiHeader.ts';
import { isPng, readPng, readPngAsync, writeLabelPng } from './png.ts';

export type DetectedFormat = 'nifti' | 'nifti-gz' | 'png' | 'jpeg' | 'bmp' | 'tiff' | 'dicom' | 'unknown';

export const SUPPORTED_FORMATS = 'NIfTI (.nii, .nii.gz) and PNG (.png)';

const JPEG_MESSAGE = 'JPEG is lossy; nnU-Net refuses it — convert to PNG';

/** Recognises a file by its first bytes. gzip is reported as 'nifti-gz' (the only gzip payload we read). */
export function detectFormat(input: Uint8Array): DetectedFormat {
  const b = plainBytes(input);
  if (isGzip(b)) return 'nifti-gz';
  if (isPng(b)) return 'png';
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (detectNiftiVersion(b)) return 'nifti';
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return 'bmp';
  if (
    b.length >= 4 &&
    ((b[0] === 0x49 && b[1] === 0x49 && b[2] === 0x2a && b[3] === 0) ||
      (b[0] === 0x4d && b[1] === 0x4d && b[2] === 0 && b[3] === 0x2a))
  ) {
    return 'tiff';
  }
  if (b.length >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d) return 'dicom';
  return 'unknown';
}

/**
 * Reads any supported image file into the pipeline's Image ([C, z, y, x] float32; PNG as [C, 1, X, Y]).
 * JPEG, BMP, TIFF, DICOM and unknown bytes are refused with a message saying what to do.
 */
export function readImageFile(bytes: Uint8Array, fileName: string): Image {
  const fmt = detectFormat(bytes);
  switch (fmt) {
    case 'nifti':
    case 'nifti-gz':
      return niftiToImage(readNifti(bytes, fileName), fileName);
    case 'png':
      return readPng(bytes, fileName);
    case 'jpeg':
      throw new SegStudioError('unsupported-format', JPEG_MESSAGE, fileName);
    case 'bmp':
    case 'tiff':
      throw new SegStudioError(
        'unsupported-format',
        `${fmt.toUpperCase()} images are not supported here; convert to PNG (supported: ${SUPPORTED_FORMATS})`,
        fileName,
      );
    case 'dicom':
      throw new SegStudioError(
        'unsupported-format',
        `DICOM files are not read here; convert the series to NIfTI first (e.g. dcm2niix) (supported: ${SUPPORTED_FORMATS})`,
        fileName,
      );
    default: {
      const ending = imageFileEnding(fileName);
      if (ending === '.jpg' || ending === '.jpeg') throw new SegStudioError('unsupported-format', JPEG_MESSAGE, fileName);
      const what =
        ending === '.nii' || ending === '.nii.gz' || ending === '.png'
          ? `named ${ending} but its bytes are not ${ending === '.png' ? 'a PNG' : 'NIfTI'} (bad magic)`
          : 'unrecognised file format';
      throw new SegStudioError('unknown-format', `${what}; supported formats: ${SUPPORTED_FORMATS}`, fileName);
    }
  }
}

/**
 * readImageFile with the platform's native inflate for .nii.gz and PNG (DecompressionStream: browsers, workers,
 * Node >= 18): same result and errors, several times faster on large files.
 */
export async function readImageFileAsync(bytes: Uint8Array, fileName: string): Promise<Image> {
  const fmt = detectFormat(bytes);
  if (fmt === 'nifti-gz') return niftiToImage(await readNiftiAsync(bytes, fileName), fileName);
  if (fmt === 'png') return readPngAsync(bytes, fileName);
  return readImageFile(bytes, fileName);
}

/**
 * writeSegmentation for .nii.gz using the fast run encoder, or native gzip (CompressionStream) when the labels do
 * not compress well with runs; same NIfTI bytes once decompressed.
 */
export async function writeSegmentationAsync(
  labels: LabelMap,
  props: ImageProperties,
  fileName: string,
): Promise<Uint8Array> {
  if (imageFileEnding(fileName) !== '.nii.gz') return writeSegmentation(labels, props, fileName);
  const plain = writeSegmentationNifti(labels, props, fileName, { gzip: false });
  const runs = gzipNiftiRuns(plain);
  if (runs.length < plain.length / 2) return runs;
  return gzipAsync(plain);
}

/**
 * Writes a segmentation on the source image's grid, in the format the output name asks for:
 * .nii / .nii.gz (NIfTI, geometry from props) or .png (2D, [1, X, Y]).
 */
export function writeSegmentation(labels: LabelMap, props: ImageProperties, fileName: string): Uint8Array {
  const ending = imageFileEnding(fileName);
  if (ending === '.nii' || ending === '.nii.gz') return writeSegmentationNifti(labels, props, fileName);
  if (ending === '.png') return writeLabelPng(labels, fileName);
  if (ending === '' && props.format === 'png') return writeLabelPng(labels, fileName);
  if (ending === '' && props.format === 'nifti') return writeSegmentationNifti(labels, props, fileName);
  throw new SegStudioError(
    'unsupported-format',
    `cannot write a segmentation as '${ending}'; supported: .nii, .nii.gz, .png`,
    fileName,
  );
}

const KNOWN_ENDINGS = ['.nii.gz', '.nii', '.png', '.bmp', '.tif', '.tiff', '.jpg', '.jpeg', '.nrrd', '.mha', '.mhd', '.gz'];

/**
 * The file ending nnU-Net would use as `file_ending` ('.nii.gz', '.nii', '.png', ...), lower-cased; for unknown
 * names the last '.xxx' suffix; '' when there is none.
 */
export function imageFileEnding(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? name;
  const lower = base.toLowerCase();
  for (const e of KNOWN_ENDINGS) if (lower.endsWith(e) && lower.length > e.length) return e;
  const dot = lower.lastIndexOf('.');
  return dot > 0 ? lower.slice(dot) : '';
}

/**
 * Splits an nnU-Net image name `{CASE}_{XXXX}{file_ending}` into case id and channel (nnU-Net:
 * utilities/file_path_utilities / dataset_name_id_conversion conventions). Null when the name does not follow it.
 * The ending is matched case-sensitively, as nnU-Net does.
 */
export function splitChannelSuffix(name: string, fileEnding: string): { caseId: string; channel: number } | null {
  const base = name.split(/[\\/]/).pop() ?? name;
  if (!base.endsWith(fileEnding)) return null;
  const stem = base.slice(0, base.length - fileEnding.length);
  const m = /^(.+)_(\d{4})$/.exec(stem);
  if (!m) return null;
  return { caseId: m[1], channel: Number(m[2]) };
}

/** Case id of a label file `{CASE}{file_ending}` (or of an image, stripping `_XXXX`). Null when the ending differs. */
export function caseIdFromFileName(name: string, fileEnding: string): string | null {
  const split = splitChannelSuffix(name, fileEnding);
  if (split) return split.caseId;
  const base = name.split(/[\\/]/).pop() ?? name;
  if (!base.endsWith(fileEnding) || base.length === fileEnding.length) return null;
  return base.slice(0, base.length - fileEnding.length);
}
