// Public API of the I/O area (pure TypeScript, no DOM, no Node APIs): NIfTI-1/2 and PNG in and out.
export {
  readNifti,
  readNiftiAsync,
  niftiToImage,
  niftiScaledData,
  niftiSlopeInter,
  writeNifti,
  writeSegmentationNifti,
  writeFloatNifti,
  segmentationDatatype,
  countNonFinite,
  isNiftiHeader,
  type NiftiVolume,
  type WriteNiftiOptions,
  type NiftiOutputOptions,
} from './nifti.ts';
export {
  parseNiftiHeader,
  serializeNiftiHeader,
  niftiAffine,
  qformAffine,
  sformAffine,
  baseAffine,
  affineSource,
  createNiftiHeader,
  setQformFromAffine,
  detectNiftiVersion,
  headerDims,
  dataOffset,
  DATATYPES,
  type NiftiHeader,
  type NiftiExtension,
  type DatatypeInfo,
} from './niftiHeader.ts';
export { readPng, readPngAsync, writeLabelPng, isPng } from './png.ts';
export {
  readImageFile,
  readImageFileAsync,
  writeSegmentation,
  writeSegmentationAsync,
  detectFormat,
  imageFileEnding,
  splitChannelSuffix,
  caseIdFromFileName,
  SUPPORTED_FORMATS,
  type DetectedFormat,
} from './files.ts';
export { isGzip, gunzipAll, gzip, gzipAsync, hasNativeGzip } from './gzip.ts';
