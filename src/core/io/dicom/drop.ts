// Is a drop DICOM? Decided from the names first; files with no telling name are decided by their first bytes
// (PACS exports are often named IM0001, 1.2.840…, without an extension).
import { isDicom } from './reader.ts';

const NON_DICOM_RE = /\.(nii|nii\.gz|gz|png|jpe?g|bmp|tiff?|onnx|json|md|txt|npz|npy|nrrd|mha|mhd|csv|pdf|html?|xml|zip)$/i;
const DICOM_NAME_RE = /\.(dcm|dicom|ima)$/i;
const hidden = (p: string) => /(^|\/)\./.test(p);

export type DicomDropGuess =
  /** a lone .zip: look inside (a model bundle, or DICOM) */
  | { kind: 'zip' }
  | { kind: 'dicom' }
  | { kind: 'other' }
  /** decide by the first 132 bytes of these files (indices): DICOM if any of them is */
  | { kind: 'sniff'; candidates: number[] };

/**
 * NIfTI, PNG, ONNX or a model manifest anywhere → 'other' (the image / model paths); a .dcm/.dicom/.ima file →
 * 'dicom'; otherwise up to `maxSniff` files without a known ending are to be sniffed.
 */
export function guessDicomDrop(paths: string[], maxSniff = 8): DicomDropGuess {
  if (paths.length === 1 && /\.zip$/i.test(paths[0])) return { kind: 'zip' };
  if (paths.some((p) => /\.(nii|nii\.gz|png|onnx)$/i.test(p) || /(^|\/)manifest\.json$/i.test(p))) return { kind: 'other' };
  if (paths.some((p) => DICOM_NAME_RE.test(p) && !hidden(p))) return { kind: 'dicom' };
  const candidates: number[] = [];
  paths.forEach((p, i) => {
    if (candidates.length < maxSniff && !NON_DICOM_RE.test(p) && !hidden(p)) candidates.push(i);
  });
  return candidates.length ? { kind: 'sniff', candidates } : { kind: 'other' };
}

/** The sniff: the first 132 bytes (or fewer) of a file are DICOM. */
export function headLooksLikeDicom(head: Uint8Array): boolean {
  return isDicom(head);
}
