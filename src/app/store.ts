// The app's one zustand store: what is loaded, what runs where, the result and the view settings.
// Big arrays (image voxels, label maps) live in the worker and in NiiVue, not here; the store holds facts.
import { createStore, useStore } from 'zustand';
import type { DeviceChoice, ImageInfo, LabelStat, ModelInfo, RuntimeInfo, SegmentOptions } from './workerApi.ts';
import { initialTrainState, type PageView, type TrainState } from './train/types.ts';

export type SliceView = 'axial' | 'coronal' | 'sagittal' | 'multiplanar' | 'render';
export type DrawTool = 'off' | 'pen' | 'erase';
export type JobState = 'idle' | 'loading' | 'segmenting' | 'cancelling';

export interface AppError {
  id: number;
  message: string;
  file?: string;
  code?: string;
}

export interface ResultVariant {
  /** e.g. 'ensemble', 'fold 0' */
  key: string;
  label: string;
}

export interface ResultState {
  /** bumps whenever the label map changes (segmentation, postprocessing, edit, undo) */
  version: number;
  shape: number[];
  device: 'webgpu' | 'wasm';
  deviceLabel: string;
  fallbackReason: string | null;
  folds: number[];
  tta: boolean;
  totalMs: number;
  stats: LabelStat[];
  hasProbabilities: boolean;
  /** labels whose largest-component postprocessing is applied */
  postprocessed: number[];
  /** undo history: drawing strokes ('edit') and largest-component steps (the label value) */
  steps: ('edit' | number)[];
  variants: ResultVariant[];
  activeVariant: string;
}

export interface Location {
  vox: number[];
  mm: number[];
  value: number;
  label: number;
}

export interface AppState {
  runtime: RuntimeInfo | null;
  image: ImageInfo | null;
  model: ModelInfo | null;
  options: SegmentOptions;
  job: {
    state: JobState;
    stage: string;
    done: number;
    total: number;
    startedAt: number;
    /** last finished run: how long it took */
    lastMs: number | null;
  };
  result: ResultState | null;
  view: {
    slice: SliceView;
    opacity: number;
    outline: boolean;
    hidden: number[];
    preset: string;
    windowMin: number;
    windowMax: number;
    tool: DrawTool;
    penLabel: number;
    location: Location | null;
  };
  errors: AppError[];
  notice: string | null;
  /** performance.now() (ms since navigation) when the first segmentation was drawn; for the cold-start benchmark */
  firstResultMs: number | null;
  dragging: boolean;
  /** which view the page shows: Segment or Train (both stay mounted; switching keeps their state) */
  page: PageView;
  /** the Train view (src/app/train) */
  train: TrainState;
}

export const initialOptions: SegmentOptions = { tta: true, folds: [], stepSize: 0.5, device: 'auto', saveProbabilities: false };

export const store = createStore<AppState>(() => ({
  runtime: null,
  image: null,
  model: null,
  options: { ...initialOptions },
  job: { state: 'idle', stage: '', done: 0, total: 0, startedAt: 0, lastMs: null },
  result: null,
  view: {
    slice: 'multiplanar',
    opacity: 0.45,
    outline: false,
    hidden: [],
    preset: 'auto',
    windowMin: 0,
    windowMax: 1,
    tool: 'off',
    penLabel: 1,
    location: null,
  },
  errors: [],
  notice: null,
  firstResultMs: null,
  dragging: false,
  page: 'segment',
  train: initialTrainState(),
}));

export function useApp<T>(selector: (s: AppState) => T): T {
  return useStore(store, selector);
}

export const set = store.setState;
export const get = store.getState;

let errorId = 0;
export function pushError(message: string, file?: string, code?: string): void {
  // one banner per distinct message; newest first
  const errors = get().errors.filter((e) => e.message !== message);
  set({ errors: [{ id: ++errorId, message, file, code }, ...errors].slice(0, 4) });
}

export function dismissError(id: number): void {
  set({ errors: get().errors.filter((e) => e.id !== id) });
}

export function setOptions(patch: Partial<SegmentOptions>): void {
  set({ options: { ...get().options, ...patch } });
}

export function setView(patch: Partial<AppState['view']>): void {
  set({ view: { ...get().view, ...patch } });
}

export function deviceChoiceLabel(d: DeviceChoice): string {
  return d === 'auto' ? 'Auto' : d === 'webgpu' ? 'WebGPU' : 'WASM (CPU)';
}

/** The label colour table (ITK-SNAP-like, high contrast on grey). Index = label value. */
export const LABEL_COLORS: [number, number, number][] = [
  [0, 0, 0],
  [102, 187, 106],
  [79, 195, 247],
  [255, 202, 40],
  [239, 83, 80],
  [186, 104, 200],
  [255, 138, 101],
  [77, 182, 172],
  [240, 98, 146],
  [174, 213, 129],
  [144, 164, 174],
  [255, 241, 118],
  [100, 181, 246],
  [161, 136, 127],
  [220, 231, 117],
  [149, 117, 205],
];

export function labelColor(v: number): [number, number, number] {
  if (v < LABEL_COLORS.length) return LABEL_COLORS[v];
  // deterministic extra colours
  const h = (v * 137.508) % 360;
  const c = 0.65;
  const x = c * (1 - Math.abs(((h / 60) % 2) - 1));
  const [r, g, b] = h < 60 ? [c, x, 0] : h < 120 ? [x, c, 0] : h < 180 ? [0, c, x] : h < 240 ? [0, x, c] : h < 300 ? [x, 0, c] : [c, 0, x];
  return [Math.round((r + 0.3) * 255), Math.round((g + 0.3) * 255), Math.round((b + 0.3) * 255)];
}
