import { useEffect, useRef, type ReactNode } from 'react';
import { applyPreset, PRESETS, setSlice, setWindow } from '../engine.ts';
import { useApp, type SliceView } from '../store.ts';
import { viewer } from '../viewer.ts';

const NO_LABELS: { value: number; name: string }[] = [];

const VIEWS: { key: SliceView; label: string; hotkey: string }[] = [
  { key: 'axial', label: 'Axial', hotkey: 'A' },
  { key: 'coronal', label: 'Coronal', hotkey: 'C' },
  { key: 'sagittal', label: 'Sagittal', hotkey: 'S' },
  { key: 'multiplanar', label: 'Multiplanar', hotkey: 'M' },
  { key: 'render', label: '3D', hotkey: 'R' },
];

function fmt(v: number, digits = 1): string {
  if (!Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
  return v.toFixed(a >= 100 ? 0 : digits);
}

export function Viewer(): ReactNode {
  const canvas = useRef<HTMLCanvasElement>(null);
  const view = useApp((s) => s.view);
  const image = useApp((s) => s.image);
  const loading = useApp((s) => s.job.state === 'loading');
  const stage = useApp((s) => s.job.stage);
  const model = useApp((s) => s.model);
  const labels = model?.labels ?? NO_LABELS;
  const hasResult = useApp((s) => s.result !== null);

  useEffect(() => {
    if (canvas.current) void viewer.attach(canvas.current);
  }, []);

  const loc = view.location;
  const labelName = loc && hasResult ? (labels.find((l) => l.value === loc.label)?.name ?? String(loc.label)) : null;
  const wl = (() => {
    const w = view.windowMax - view.windowMin;
    const l = (view.windowMax + view.windowMin) / 2;
    return `W ${fmt(w)} / L ${fmt(l)}`;
  })();

  return (
    <div className="viewer">
      <div className="viewer-toolbar" role="toolbar" aria-label="View">
        <div className="seg" role="group" aria-label="Layout">
          {VIEWS.map((v) => (
            <button
              key={v.key}
              type="button"
              className={view.slice === v.key ? 'seg-btn active' : 'seg-btn'}
              aria-pressed={view.slice === v.key}
              title={`${v.label} (${v.hotkey})`}
              onClick={() => setSlice(v.key)}
            >
              {v.label}
            </button>
          ))}
        </div>
        <div className="toolbar-right">
          <label className="inline-field">
            <span>Window</span>
            <select value={view.preset} onChange={(e) => applyPreset(e.target.value)} aria-label="Window preset" disabled={!image}>
              {PRESETS.map((p) => (
                <option key={p.key} value={p.key}>
                  {p.hotkey} · {p.label}
                </option>
              ))}
              {view.preset === 'custom' ? <option value="custom">Custom</option> : null}
            </select>
          </label>
          <label className="inline-field narrow">
            <span>Min</span>
            <input
              type="number"
              value={Number(view.windowMin.toPrecision(5))}
              onChange={(e) => setWindow(Number(e.target.value), view.windowMax)}
              aria-label="Window minimum"
              disabled={!image}
            />
          </label>
          <label className="inline-field narrow">
            <span>Max</span>
            <input
              type="number"
              value={Number(view.windowMax.toPrecision(5))}
              onChange={(e) => setWindow(view.windowMin, Number(e.target.value))}
              aria-label="Window maximum"
              disabled={!image}
            />
          </label>
        </div>
      </div>
      <div className="canvas-wrap">
        <canvas ref={canvas} data-testid="viewer-canvas" aria-label="Image canvas: click to move the crosshair, scroll to change slice, right-drag for contrast" tabIndex={0} />
        {loading ? (
          <div className="canvas-overlay">
            <div className="spinner" aria-hidden />
            <span>{stage || 'Loading…'}</span>
          </div>
        ) : null}
        {!image && !loading ? <div className="canvas-overlay">Drop an image anywhere, or press Run demo</div> : null}
      </div>
      <div className="readout" data-testid="readout" aria-live="polite">
        {loc ? (
          <>
            <span>
              <b>voxel</b> {loc.vox.join(', ')}
            </span>
            <span>
              <b>mm</b> {loc.mm.map((v) => v.toFixed(1)).join(', ')}
            </span>
            <span>
              <b>value</b> {fmt(loc.value, 2)}
            </span>
            {labelName !== null ? (
              <span>
                <b>label</b> {loc.label} · {labelName}
              </span>
            ) : null}
            <span className="grow" />
          </>
        ) : (
          <span className="muted grow">Click the image to place the crosshair · scroll: slice · right-drag: contrast · Ctrl+wheel: zoom</span>
        )}
        {image ? <span className="wl-readout">{wl}</span> : null}
      </div>
    </div>
  );
}
