import type { ReactNode } from 'react';
import {
  downloadProbabilities,
  downloadSegmentation,
  resetEdits,
  selectVariant,
  setOpacity,
  setOutline,
  setTool,
  toggleHidden,
  toggleLargestComponent,
  undo,
} from '../engine.ts';
import { labelColor, useApp } from '../store.ts';
import { Panel } from './Panel.tsx';

export function ResultsPanel(): ReactNode {
  const result = useApp((s) => s.result);
  const model = useApp((s) => s.model);
  const image = useApp((s) => s.image);
  const view = useApp((s) => s.view);
  const busy = useApp((s) => s.job.state !== 'idle');
  const autoChoice = useApp((s) => s.options.device === 'auto');
  if (!result || !model) {
    return (
      <Panel title="Result" testId="results-panel">
        <p className="muted">Press Segment to see the labels here.</p>
      </Panel>
    );
  }
  const name = (v: number) => model.labels.find((l) => l.value === v)?.name ?? `label ${v}`;
  const is2D = image?.is2D ?? false;
  const last = result.steps[result.steps.length - 1];
  return (
    <Panel
      title="Result"
      testId="results-panel"
      right={
        <span className="muted small" data-testid="result-device">
          {(result.totalMs / 1000).toFixed(1)} s · {result.deviceLabel}
        </span>
      }
    >
      {result.fallbackReason ? (
        <div className={autoChoice ? 'info-line' : 'warn-line'} data-testid="fallback-reason">
          {autoChoice ? 'Auto chose the CPU' : 'Fell back to the CPU'}: {result.fallbackReason}
        </div>
      ) : null}
      {result.variants.length > 1 ? (
        <div className="seg small-seg" role="group" aria-label="Result variant" data-testid="result-variants">
          {result.variants.map((v) => (
            <button
              key={v.key}
              type="button"
              className={v.key === result.activeVariant ? 'seg-btn active' : 'seg-btn'}
              aria-pressed={v.key === result.activeVariant}
              data-testid={`variant-${v.key.replace(' ', '-')}`}
              onClick={() => selectVariant(v.key)}
            >
              {v.label}
            </button>
          ))}
        </div>
      ) : null}
      <table className="label-table" data-testid="label-table">
        <thead>
          <tr>
            <th scope="col" aria-label="Visible" />
            <th scope="col">Label</th>
            <th scope="col" className="num">
              Voxels
            </th>
            <th scope="col" className="num">
              {is2D ? 'Area' : 'mL'}
            </th>
            <th scope="col" className="num" title="Connected components">
              Comp.
            </th>
            <th scope="col" title="Keep only the largest connected component (nnU-Net postprocessing)">
              Largest
            </th>
          </tr>
        </thead>
        <tbody>
          {result.stats.map((s) => {
            const [r, g, b] = labelColor(s.value);
            const hidden = view.hidden.includes(s.value);
            const pp = result.postprocessed.includes(s.value);
            return (
              <tr key={s.value} data-label={s.value} data-voxels={s.voxels} className={hidden ? 'row-hidden' : ''}>
                <td>
                  <button
                    type="button"
                    className="eye"
                    aria-pressed={!hidden}
                    aria-label={`${hidden ? 'Show' : 'Hide'} ${name(s.value)}`}
                    onClick={() => toggleHidden(s.value)}
                  >
                    <span className="swatch" style={{ background: hidden ? 'transparent' : `rgb(${r},${g},${b})`, borderColor: `rgb(${r},${g},${b})` }} />
                  </button>
                </td>
                <td className="ellipsis" title={`${s.value}: ${name(s.value)}`}>
                  {name(s.value)}
                </td>
                <td className="num">{s.voxels.toLocaleString('en-US')}</td>
                <td className="num">{is2D ? `${s.voxels} px` : s.ml.toFixed(s.ml < 10 ? 2 : 1)}</td>
                <td className="num">{s.components}</td>
                <td>
                  <input
                    type="checkbox"
                    aria-label={`Largest component only for ${name(s.value)}`}
                    checked={pp}
                    disabled={busy || (pp && last !== s.value) || (!pp && s.components <= 1)}
                    onChange={() => void toggleLargestComponent(s.value)}
                  />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <div className="overlay-controls">
        <label className="field grow">
          <span>Opacity</span>
          <input type="range" min={0} max={1} step={0.05} value={view.opacity} onChange={(e) => setOpacity(Number(e.target.value))} aria-label="Overlay opacity" disabled={view.outline} />
        </label>
        <label className="check">
          <input type="checkbox" checked={view.outline} onChange={(e) => setOutline(e.target.checked)} />
          Outline
        </label>
      </div>
      <div className="edit-tools" role="group" aria-label="Edit">
        <div className="seg small-seg">
          {(['off', 'pen', 'erase'] as const).map((t) => (
            <button key={t} type="button" className={view.tool === t ? 'seg-btn active' : 'seg-btn'} aria-pressed={view.tool === t} onClick={() => setTool(t)}>
              {t === 'off' ? 'View' : t === 'pen' ? 'Pen' : 'Eraser'}
            </button>
          ))}
        </div>
        <select value={view.penLabel} onChange={(e) => setTool(view.tool === 'off' ? 'pen' : view.tool, Number(e.target.value))} aria-label="Pen label" disabled={view.tool === 'erase'}>
          {model.labels
            .filter((l) => l.value > 0)
            .map((l) => (
              <option key={l.value} value={l.value}>
                {l.value} · {l.name}
              </option>
            ))}
        </select>
        <button type="button" className="btn btn-small" onClick={undo} disabled={result.steps.length === 0} title="Undo (Ctrl+Z)">
          Undo
        </button>
        <button type="button" className="btn btn-small" onClick={resetEdits} disabled={result.steps.length === 0} title="Back to the network's result">
          Reset
        </button>
      </div>
      <div className="btn-row downloads">
        <button type="button" className="btn btn-primary" data-testid="download-seg" onClick={() => void downloadSegmentation()}>
          Download {image?.format === 'png' ? '.png' : '.nii.gz'}
        </button>
        <button
          type="button"
          className="btn"
          data-testid="download-probabilities"
          onClick={() => void downloadProbabilities()}
          disabled={!result.hasProbabilities}
          title={result.hasProbabilities ? 'Softmax probabilities as a 4D NIfTI' : 'Tick "Keep probabilities" and segment again'}
        >
          Probabilities
        </button>
      </div>
    </Panel>
  );
}
