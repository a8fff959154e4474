import { useEffect, useRef, useState, type ReactNode } from 'react';
import { fetchBundledModel, fetchModelIndex, type BundledModelEntry } from '../bundledModels.ts';
import { loadDemoModel, loadModelFiles, reportError, type DroppedFile } from '../engine.ts';
import { labelColor, useApp } from '../store.ts';
import { Panel } from './Panel.tsx';

export function ModelPanel(): ReactNode {
  const model = useApp((s) => s.model);
  const image = useApp((s) => s.image);
  const busy = useApp((s) => s.job.state !== 'idle');
  const folderInput = useRef<HTMLInputElement>(null);
  const fileInput = useRef<HTMLInputElement>(null);
  // models shipped with the page (public/models/index.json); the demo keeps its own button
  const [bundled, setBundled] = useState<BundledModelEntry[]>([]);
  useEffect(() => {
    fetchModelIndex(document.baseURI)
      .then((list) => setBundled(list.filter((m) => m.id !== 'demo')))
      .catch(() => setBundled([]));
  }, []);
  const pickBundled = (id: string) => {
    const entry = bundled.find((m) => m.id === id);
    if (!entry) return;
    void fetchBundledModel(document.baseURI, entry.id)
      .then((files) => loadModelFiles(files))
      .catch((e) => reportError(e, `models/${entry.id}`));
  };
  const pick = (list: FileList | null) => {
    if (!list || list.length === 0) return;
    const files: DroppedFile[] = Array.from(list).map((f) => ({ path: (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name, file: f }));
    void loadModelFiles(files);
  };
  const channelsExpected = model ? Object.keys(model.channels).length : 0;
  const mismatch = model && image && channelsExpected > 0 && channelsExpected !== image.channels;
  return (
    <Panel
      title="Model"
      testId="model-panel"
      right={
        <div className="btn-row">
          <button type="button" className="btn btn-small" disabled={busy || model?.source === 'demo'} onClick={() => void loadDemoModel()}>
            Demo
          </button>
          {bundled.length ? (
            <select
              className="btn btn-small"
              data-testid="bundled-models"
              disabled={busy}
              value=""
              title="Models shipped with SegStudio"
              onChange={(e) => pickBundled(e.target.value)}
            >
              <option value="">Bundled…</option>
              {bundled.map((m) => (
                <option key={m.id} value={m.id} title={m.description}>
                  {m.name}
                </option>
              ))}
            </select>
          ) : null}
          <button type="button" className="btn btn-small" disabled={busy} onClick={() => folderInput.current?.click()} title="Choose a model bundle folder">
            Folder…
          </button>
          <button type="button" className="btn btn-small" disabled={busy} onClick={() => fileInput.current?.click()} title="Choose a bundle .zip, or an .onnx with its model card">
            File…
          </button>
          <input
            ref={folderInput}
            type="file"
            hidden
            multiple
            {...({ webkitdirectory: '' } as Record<string, string>)}
            onChange={(e) => {
              pick(e.target.files);
              e.target.value = '';
            }}
          />
          <input
            ref={fileInput}
            data-testid="model-input"
            type="file"
            hidden
            multiple
            accept=".zip,.onnx,.json"
            onChange={(e) => {
              pick(e.target.files);
              e.target.value = '';
            }}
          />
        </div>
      }
    >
      {!model ? (
        <p className="muted">Loading the bundled demo model…</p>
      ) : (
        <>
          <div className="model-name" data-testid="model-name">
            {model.name}
            {model.notForClinicalUse ? <span className="tag tag-warn">not for clinical use</span> : null}
          </div>
          <p className="model-summary">{model.summary}</p>
          <div className="kv">
            <span>Input</span>
            <b>
              {Object.entries(model.channels)
                .map(([k, v]) => `${k}: ${v}`)
                .join(', ') || '—'}
            </b>
          </div>
          <div className="kv">
            <span>Config</span>
            <b>
              {model.configuration} · {model.folds.length} fold{model.folds.length === 1 ? '' : 's'}
              {model.patchSize !== 'full' ? ` · patch ${model.patchSize.join('×')}` : ' · whole image'}
            </b>
          </div>
          <div className="label-chips">
            {model.labels
              .filter((l) => l.value > 0)
              .map((l) => {
                const [r, g, b] = labelColor(l.value);
                return (
                  <span key={l.value} className="label-chip">
                    <span className="swatch" style={{ background: `rgb(${r},${g},${b})` }} />
                    {l.name}
                  </span>
                );
              })}
          </div>
          {model.card ? (
            <details className="model-card" data-testid="model-card">
              <summary>Model card</summary>
              <pre data-testid="model-card-text">{model.card}</pre>
            </details>
          ) : null}
          {mismatch ? (
            <div className="warn-line" role="note">
              This model expects {channelsExpected} channel{channelsExpected === 1 ? '' : 's'}; the image has {image.channels}.
            </div>
          ) : null}
        </>
      )}
    </Panel>
  );
}
