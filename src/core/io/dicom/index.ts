// DICOM import: dcm2niix (WebAssembly) conversion with pre-checks, zip intake, and a small writer for tests.
export { convertDicom, describeSkipped, nameList, type ConvertedSeries, type ConvertResult, type ConvertOptions, type Dcm2niixFactory, type Dcm2niixModule, type DicomInput, type SkippedFile } from './convert.ts';
export { inspectDicom, isDicom, parseDicomHeader, type DicomFileInfo, type DicomInspection } from './reader.ts';
export { unzipDicomInputs, zipHoldsModel, zipMemberNames } from './zip.ts';
export { writeDicomSeries, imageToDicomSeries, type DicomFile, type DicomSeriesOptions, type DicomGeometry } from './writer.ts';
