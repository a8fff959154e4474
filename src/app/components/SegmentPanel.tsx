import { useEffect, useState, type ReactNode } from 'react';
import { cancel, chooseDevice, segment } from '../engine.ts';
import { setOptions, useApp } from '../store.ts';
import type { DeviceChoice } from '../workerApi.ts';
import { Panel } from './Panel.tsx';
import { estimateRun } from '../runtime/estimate.ts';

function mmss(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export function SegmentPanel(): ReactNode {
  const options = useApp((s) => s.options);
  const job = useApp((s) => s.job);
  const model = useApp((s) => s.model);
  const image = useApp((s) => s.image);
  const runtime = useApp((s) => s.runtime);
  const [now, setNow] = useState(performance.now());
  const running = job.state === 'segmenting' || job.state === 'cancelling';
  useEffect(() => {
    if (!running) return;
    const t = setInterval(() => setNow(performance.now()), 200);
    return () => clearInterval(t);
  }, [running]);

  const elapsed = running ? now - job.startedAt : 0;
  const frac = job.total > 0 ? job.done / job.total : 0;
  const eta = frac > 0.02 && frac < 1 ? (elapsed / frac) * (1 - frac) : NaN;
  const foldChoices = model?.folds ?? [];
  const canRun = Boolean(image && model) && job.state === 'idle';
  const estimate =
    image && model
      ? estimateRun(image.shape, image.spacing, model.patchSize, model.spacing, {
          tta: options.tta,
          stepSize: options.stepSize,
          folds: options.folds.length || model.folds.length,
          classes: model.labels.length,
        })
      : null;

  const toggleFold = (f: number) => {
    const cur = options.folds.length ? options.folds : foldChoices;
    const next = cur.includes(f) ? cur.filter((x) => x !== f) : [...cur, f].sort((a, b) => a - b);
    setOptions({ folds: next.length === foldChoices.length ? [] : next });
  };

  return (
    <Panel title="Segment" testId="segment-panel">
      <div className="options">
        <label className="check" title="Test-time augmentation: average over mirrored inputs (nnU-Net default)">
          <input type="checkbox" checked={options.tta} onChange={(e) => setOptions({ tta: e.target.checked })} disabled={running} data-testid="opt-tta" />
          Mirroring TTA
        </label>
        <label className="check" title="Keep the softmax probabilities for download">
          <input
            type="checkbox"
            checked={options.saveProbabilities}
            onChange={(e) => setOptions({ saveProbabilities: e.target.checked })}
            disabled={running}
          />
          Keep probabilities
        </label>
        <label className="field" title="Auto: WebGPU on a hardware GPU, otherwise the CPU (WASM)">
          <span>Device</span>
          <select
            value={options.device}
            onChange={(e) => chooseDevice(e.target.value as DeviceChoice)}
            disabled={running}
            data-testid="opt-device"
            aria-label="Device"
          >
            <option value="auto">Auto</option>
            <option value="webgpu" disabled={runtime !== null && !runtime.webgpuAdapter}>
              WebGPU{runtime && !runtime.webgpuAdapter ? ' (unavailable)' : ''}
            </option>
            <option value="wasm">CPU (WASM)</option>
          </select>
        </label>
        <label className="field">
          <span>Tile step</span>
          <select value={options.stepSize} onChange={(e) => setOptions({ stepSize: Number(e.target.value) })} disabled={running} aria-label="Tile step size">
            <option value={0.5}>0.5 (default)</option>
            <option value={0.75}>0.75</option>
            <option value={1}>1.0 (fastest)</option>
          </select>
        </label>
        {foldChoices.length > 1 ? (
          <div className="field">
            <span>Folds</span>
            <div className="fold-row">
              {foldChoices.map((f) => (
                <label key={f} className="check small">
                  <input type="checkbox" checked={!options.folds.length || options.folds.includes(f)} onChange={() => toggleFold(f)} disabled={running} />
                  {f}
                </label>
              ))}
            </div>
          </div>
        ) : null}
      </div>
      {estimate && !running ? (
        <div className="muted small estimate" data-testid="estimate" title="Upper bound before cropping to the non-zero region">
          ≤ {estimate.runs.toLocaleString('en-US')} network run{estimate.runs === 1 ? '' : 's'} ({estimate.tiles} tile{estimate.tiles === 1 ? '' : 's'}
          {options.tta ? ' × mirrorings' : ''}
          {(options.folds.length || model!.folds.length) > 1 ? ' × folds' : ''}) · ~{estimate.memoryMB < 10 ? estimate.memoryMB.toFixed(1) : Math.round(estimate.memoryMB)} MB
        </div>
      ) : null}
      {running ? (
        <div className="progress-block" data-testid="progress">
          <div className="progress-bar" role="progressbar" aria-valuemin={0} aria-valuemax={job.total || 1} aria-valuenow={job.done}>
            <div className="progress-fill" style={{ width: `${Math.round(frac * 100)}%` }} />
          </div>
          <div className="progress-text">
            <span>
              {job.stage}
              {job.total > 1 ? ` · tile ${job.done} / ${job.total}` : ''}
            </span>
            <span>
              {mmss(elapsed)}
              {Number.isFinite(eta) ? ` · ETA ${mmss(eta)}` : ''}
            </span>
          </div>
          <button type="button" className="btn btn-wide" data-testid="cancel" onClick={cancel} disabled={job.state === 'cancelling'}>
            {job.state === 'cancelling' ? 'Cancelling…' : 'Cancel (Esc)'}
          </button>
        </div>
      ) : (
        <button type="button" className="btn btn-primary btn-wide" data-testid="segment" disabled={!canRun} onClick={() => void segment()}>
          Segment
        </button>
      )}
      {!running && job.lastMs !== null ? <div className="muted small">Last run: {mmss(job.lastMs)}</div> : null}
    </Panel>
  );
}
