// Messages between the page and workers/inference.worker.ts (comlink). Plain data only: large arrays are
// transferred, never copied.

export type DeviceChoice = 'auto' | 'webgpu' | 'wasm';

export interface RuntimeInfo {
  webgpuAdapter: string | null;
  webgpuReason: string | null;
  webgpuIsFallbackAdapter: boolean;
  threads: number;
  crossOriginIsolated: boolean;
}

export interface ImageInfo {
  /** display name: the file name, or 'CASE (2 files)' */
  name: string;
  files: string[];
  format: 'nifti' | 'png';
  /** [C, z, y, x] (PNG: [C, 1, X, Y]) */
  shape: number[];
  /** [z, y, x] mm */
  spacing: number[];
  channels: number;
  is2D: boolean;
  /** min / max and robust 0.5–99.5 percentiles of channel 0 */
  range: [number, number];
  robustRange: [number, number];
  /** true when the values look like CT (Hounsfield units) */
  looksLikeCt: boolean;
  isDemo: boolean;
}

export interface LoadedImage {
  info: ImageInfo;
  /** uncompressed NIfTI-1 of channel 0 for the viewer (float32, the image's affine) */
  display: Uint8Array;
}

export interface ModelLabel {
  value: number;
  name: string;
}

export interface ModelInfo {
  name: string;
  source: 'demo' | 'bundle' | 'onnx';
  labels: ModelLabel[];
  /** channel index → name, e.g. {"0": "T2"} */
  channels: Record<string, string>;
  configuration: string;
  folds: number[];
  patchSize: number[] | 'full';
  spacing: number[] | null;
  normalization: string[];
  summary: string;
  notForClinicalUse: boolean;
  description?: string;
  /** the bundle's model card for people: model-card.md, else model-card.json pretty-printed */
  card?: string;
}

export interface SegmentOptions {
  tta: boolean;
  folds: number[];
  stepSize: number;
  device: DeviceChoice;
  saveProbabilities: boolean;
}

export interface LabelStat {
  value: number;
  voxels: number;
  ml: number;
  components: number;
}

export interface SegmentResult {
  /** label map on the image grid, C-order [z, y, x] (x fastest = NIfTI storage order) */
  labels: Uint8Array;
  shape: number[];
  /** 'webgpu' | 'wasm' */
  device: 'webgpu' | 'wasm';
  /** human-readable: 'WebGPU (google swiftshader)' or 'CPU (WASM, 2 threads)' */
  deviceLabel: string;
  /** why Auto/WebGPU ended up on WASM */
  fallbackReason: string | null;
  folds: number[];
  tta: boolean;
  timings: { totalMs: number; networkMs?: number; sessionMs: number };
  stats: LabelStat[];
  hasProbabilities: boolean;
  /** several folds: each fold's own prediction (labels + stats), next to the ensemble above */
  foldResults?: { fold: number; labels: Uint8Array; stats: LabelStat[] }[];
  /** the worker's GPUDevice is lost (this run fell back to WASM, or ran there); a new worker gets a new device */
  gpuLost?: boolean;
}

export interface ProgressEvent {
  done: number;
  total: number;
  stage: string;
}

export interface DownloadFile {
  name: string;
  bytes: Uint8Array;
  mime: string;
}
