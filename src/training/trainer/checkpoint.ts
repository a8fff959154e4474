// Checkpoint format: checkpoint_{best,latest,final}.json (metadata, log, optimizer hyperparameters, RNG
// state, tensor index) + checkpoint_{…}.bin (every tensor as little-endian float32, concatenated in index
// order; it alternates with checkpoint_{…}.1.bin). The new .bin is written first under the name the current
// .json does not use, then the .json naming it with its byte length and sha256, so a process killed at any
// point leaves the previous checkpoint loadable, and a torn or altered pair is refused with a clear message.
// Mirrors what nnU-Net's save_checkpoint puts into checkpoint_*.pth (network_weights, optimizer_state,
// logging, _best_ema, current_epoch = epoch + 1, init_args, trainer_name, inference_allowed_mirroring_axes);
// nnU-Net: training/nnUNetTrainer/nnUNetTrainer.py save_checkpoint / load_checkpoint.
import { SegStudioError } from '../../core/errors.ts';
import { sha256Hex } from '../../core/inference/sha256.ts';
import type { UNetConfig } from '../nn/plainConvUNet.ts';
import type { TrainingLogData } from './log.ts';
import { bytesText, textBytes, type TrainerStorage } from './storage.ts';

export const CHECKPOINT_FORMAT = 'segstudio-checkpoint/1';
export type CheckpointName = 'best' | 'latest' | 'final';

export interface TensorEntry {
  name: string;
  group: 'weights' | 'momentum';
  shape: number[];
  /** byte offset in the .bin */
  offset: number;
  /** number of float32 values */
  length: number;
}

export interface OptimizerMeta {
  initial_lr: number;
  momentum: number;
  weight_decay: number;
  nesterov: boolean;
  /** completed SGD steps */
  step: number;
}

/** Everything a checkpoint holds besides the tensors. */
export interface CheckpointMeta {
  format: typeof CHECKPOINT_FORMAT;
  trainer_name: string;
  dataset_name: string;
  plans_name: string;
  configuration: string;
  fold: number | 'all';
  /** the next epoch to run (nnU-Net stores current_epoch + 1) */
  current_epoch: number;
  /** trainer options the run was started with (epochs, iterations, seed, …) */
  init_args: Record<string, unknown>;
  network: UNetConfig;
  patch_size: number[];
  batch_size: number;
  logging: TrainingLogData;
  _best_ema: number | null;
  optimizer: OptimizerMeta;
  /** batch sources' RNG states (JSON) */
  rng: Record<string, unknown>;
  inference_allowed_mirroring_axes: number[];
  /** name of the backend that produced it (for the record) */
  backend: string;
  /** wall-clock ms when written */
  saved_at: number;
}

export interface CheckpointFileMeta extends CheckpointMeta {
  bin: { file: string; bytes: number; sha256: string };
  tensors: TensorEntry[];
}

export interface CheckpointData {
  meta: CheckpointMeta;
  weights: Record<string, { shape: number[]; data: Float32Array }>;
  /** SGD momentum buffers by parameter name (absent for parameters never stepped) */
  momentum: Record<string, Float32Array>;
}

// JSON cannot hold NaN/Infinity (pseudo Dice of a class absent everywhere is NaN, as in nnU-Net): write them as
// the strings "NaN", "Infinity", "-Infinity" and read them back as numbers.
const NONFINITE: Record<string, number> = { NaN: NaN, Infinity: Infinity, '-Infinity': -Infinity };

export function stringifyWithNaN(v: unknown, indent = 1): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x), indent);
}

export function parseWithNaN(text: string): unknown {
  return JSON.parse(text, (_k, x) => (typeof x === 'string' && x in NONFINITE ? NONFINITE[x] : x));
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** SHA-256 hex through WebCrypto (Node ≥ 20, browsers, workers: native speed), else the pure-TS fallback. */
export async function sha256HexAsync(bytes: Uint8Array): Promise<string> {
  const subtle = (globalThis as { crypto?: Crypto }).crypto?.subtle;
  if (subtle) {
    try {
      const d = new Uint8Array(await subtle.digest('SHA-256', bytes as unknown as BufferSource));
      return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('');
    } catch {
      /* fall through */
    }
  }
  return sha256Hex(bytes);
}

export function checkpointFiles(name: CheckpointName): { json: string; bin: string } {
  return { json: `checkpoint_${name}.json`, bin: `checkpoint_${name}.bin` };
}

/** Serialises a checkpoint: the .json text and the .bin bytes. */
export async function encodeCheckpoint(data: CheckpointData, binFile: string): Promise<{ json: Uint8Array; bin: Uint8Array }> {
  const entries: { name: string; group: TensorEntry['group']; shape: number[]; data: Float32Array }[] = [];
  for (const [name, t] of Object.entries(data.weights)) entries.push({ name, group: 'weights', shape: [...t.shape], data: t.data });
  for (const [name, m] of Object.entries(data.momentum)) {
    const w = data.weights[name];
    if (!w) throw new SegStudioError('checkpoint', `momentum for ${name} has no matching weight`);
    entries.push({ name, group: 'momentum', shape: [...w.shape], data: m });
  }
  const total = entries.reduce((a, e) => a + e.data.length * 4, 0);
  const bin = new Uint8Array(total);
  const view = new DataView(bin.buffer);
  const tensors: TensorEntry[] = [];
  let off = 0;
  for (const e of entries) {
    tensors.push({ name: e.name, group: e.group, shape: e.shape, offset: off, length: e.data.length });
    if (LITTLE_ENDIAN) bin.set(new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength), off);
    else for (let i = 0; i < e.data.length; i++) view.setFloat32(off + 4 * i, e.data[i], true);
    off += e.data.length * 4;
  }
  const meta: CheckpointFileMeta = { ...data.meta, bin: { file: binFile, bytes: bin.length, sha256: await sha256HexAsync(bin) }, tensors };
  return { json: textBytes(stringifyWithNaN(meta) + '\n'), bin };
}

/** Parses and checks a checkpoint's .json and .bin (size, sha256, every tensor in bounds). */
export async function decodeCheckpoint(jsonBytes: Uint8Array, bin: Uint8Array, fileName: string): Promise<CheckpointData> {
  let meta: CheckpointFileMeta;
  try {
    meta = parseWithNaN(bytesText(jsonBytes)) as CheckpointFileMeta;
  } catch (e) {
    throw new SegStudioError('checkpoint', `not valid JSON (${(e as Error).message})`, fileName);
  }
  if (!meta || typeof meta !== 'object' || meta.format !== CHECKPOINT_FORMAT)
    throw new SegStudioError('checkpoint', `not a SegStudio checkpoint (format ${JSON.stringify(meta?.format)}, expected "${CHECKPOINT_FORMAT}")`, fileName);
  if (!meta.bin || !Array.isArray(meta.tensors)) throw new SegStudioError('checkpoint', 'missing "bin" or "tensors"', fileName);
  if (bin.length !== meta.bin.bytes)
    throw new SegStudioError('checkpoint', `${meta.bin.file} has ${bin.length} bytes, the checkpoint expects ${meta.bin.bytes} (incomplete write?)`, fileName);
  const digest = await sha256HexAsync(bin);
  if (digest !== meta.bin.sha256)
    throw new SegStudioError('checkpoint', `${meta.bin.file} does not match its sha256 (file ${digest.slice(0, 12)}…, expected ${meta.bin.sha256.slice(0, 12)}…)`, fileName);
  const view = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  const weights: CheckpointData['weights'] = {};
  const momentum: CheckpointData['momentum'] = {};
  for (const t of meta.tensors) {
    if (t.offset < 0 || t.offset + 4 * t.length > bin.length)
      throw new SegStudioError('checkpoint', `tensor ${t.name} lies outside ${meta.bin.file}`, fileName);
    let a: Float32Array;
    if (LITTLE_ENDIAN) a = new Float32Array(bin.slice(t.offset, t.offset + 4 * t.length).buffer);
    else {
      a = new Float32Array(t.length);
      for (let i = 0; i < t.length; i++) a[i] = view.getFloat32(t.offset + 4 * i, true);
    }
    if (t.group === 'weights') weights[t.name] = { shape: [...t.shape], data: a };
    else momentum[t.name] = a;
  }
  const { bin: _b, tensors: _t, ...rest } = meta;
  return { meta: rest, weights, momentum };
}

/** The two tensor-file names a checkpoint alternates between (checkpoint_<name>.bin, checkpoint_<name>.1.bin). */
export function checkpointBinNames(name: CheckpointName): [string, string] {
  return [`checkpoint_${name}.bin`, `checkpoint_${name}.1.bin`];
}

/** The tensor file a stored checkpoint .json points at (null: no .json, or not readable). */
async function storedBinName(storage: TrainerStorage, name: CheckpointName): Promise<string | null> {
  const f = checkpointFiles(name);
  if (!(await storage.exists(f.json))) return null;
  try {
    const meta = parseWithNaN(bytesText(await storage.read(f.json))) as Partial<CheckpointFileMeta>;
    const file = meta?.bin?.file;
    return typeof file === 'string' && checkpointBinNames(name).includes(file) ? file : f.bin;
  } catch {
    return null;
  }
}

/**
 * Writes the tensors to the tensor file the current .json does NOT use, then the .json, then removes the
 * previous tensor file. A process or tab killed at any point leaves the previous checkpoint whole (its .json
 * and the .bin it names are untouched until the new pair is complete); storage writes are atomic per file.
 */
export async function saveCheckpoint(storage: TrainerStorage, name: CheckpointName, data: CheckpointData): Promise<void> {
  const f = checkpointFiles(name);
  const [a, b] = checkpointBinNames(name);
  const prev = await storedBinName(storage, name);
  const binFile = prev === a ? b : a;
  const { json, bin } = await encodeCheckpoint(data, binFile);
  await storage.write(binFile, bin);
  await storage.write(f.json, json);
  for (const other of [a, b]) if (other !== binFile) await storage.remove(other);
}

/** Removes a checkpoint's .json and both tensor files (nnU-Net deletes checkpoint_latest after checkpoint_final). */
export async function removeCheckpoint(storage: TrainerStorage, name: CheckpointName): Promise<void> {
  await storage.remove(checkpointFiles(name).json);
  for (const b of checkpointBinNames(name)) await storage.remove(b);
}

export async function hasCheckpoint(storage: TrainerStorage, name: CheckpointName): Promise<boolean> {
  const bin = await storedBinName(storage, name);
  return bin !== null && (await storage.exists(bin));
}

export async function loadCheckpoint(storage: TrainerStorage, name: CheckpointName): Promise<CheckpointData> {
  const f = checkpointFiles(name);
  const where = `${storage.location}/${f.json}`;
  if (!(await storage.exists(f.json))) throw new SegStudioError('checkpoint-missing', 'checkpoint not found', where);
  const bin = (await storedBinName(storage, name)) ?? f.bin;
  if (!(await storage.exists(bin))) throw new SegStudioError('checkpoint', `its tensor file ${bin} is missing`, where);
  return decodeCheckpoint(await storage.read(f.json), await storage.read(bin), where);
}

/** nnU-Net's --c order: final, then latest, then best; null when there is none. */
export async function newestCheckpoint(storage: TrainerStorage): Promise<CheckpointName | null> {
  for (const n of ['final', 'latest', 'best'] as const) if (await hasCheckpoint(storage, n)) return n;
  return null;
}
