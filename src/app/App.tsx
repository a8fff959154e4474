import { useEffect, useRef, useState, type ReactNode } from 'react';
import { DropZone } from './components/DropZone.tsx';
import { SeriesPicker } from './components/SeriesPicker.tsx';
import { ErrorBanner } from './components/ErrorBanner.tsx';
import { ModelPanel } from './components/ModelPanel.tsx';
import { ResultsPanel } from './components/ResultsPanel.tsx';
import { SegmentPanel } from './components/SegmentPanel.tsx';
import { StatusChip } from './components/StatusChip.tsx';
import { Viewer } from './components/Viewer.tsx';
import { ImagePanel } from './components/ImagePanel.tsx';
import { openFiles, runDemo, segment, cancel, undo, applyPreset, setSlice, PRESETS, type DroppedFile } from './engine.ts';
import { get, useApp } from './store.ts';
import { TrainView } from './train/components/TrainView.tsx';
import { ViewSwitch } from './train/components/ViewSwitch.tsx';

export function App(): ReactNode {
  const busy = useApp((s) => s.job.state !== 'idle');
  const page = useApp((s) => s.page);
  const fileInput = useRef<HTMLInputElement>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  const [, force] = useState(0);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      const t = e.target as HTMLElement | null;
      if (t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA')) return;
      if (get().page !== 'segment') return; // the Segment view's shortcuts
      if (e.ctrlKey || e.metaKey) {
        if (e.key === 'z') {
          undo();
          e.preventDefault();
        }
        if (e.key === 'o') {
          fileInput.current?.click();
          e.preventDefault();
        }
        return;
      }
      const preset = PRESETS.find((p) => p.hotkey === e.key);
      if (preset) applyPreset(preset.key);
      else if (e.key === 'a') setSlice('axial');
      else if (e.key === 'c') setSlice('coronal');
      else if (e.key === 's') setSlice('sagittal');
      else if (e.key === 'm') setSlice('multiplanar');
      else if (e.key === 'r') setSlice('render');
      else if (e.key === 'Enter' && get().job.state === 'idle') void segment();
      else if (e.key === 'Escape') cancel();
    };
    window.addEventListener('keydown', onKey);
    force(1);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const pick = (list: FileList | null) => {
    if (!list) return;
    const files: DroppedFile[] = Array.from(list).map((f) => ({ path: (f as File & { webkitRelativePath?: string }).webkitRelativePath || f.name, file: f }));
    void openFiles(files);
  };

  return (
    <div className="app">
      <header className="topbar">
        <div className="brand">
          <img src="./icon.svg" alt="" width={28} height={28} />
          <div>
            <div className="brand-name">SegStudio</div>
            <div className="brand-sub">Medical image segmentation in your browser</div>
          </div>
        </div>
        <ViewSwitch />
        <div className="topbar-actions">
          <StatusChip />
          <button type="button" className="btn" onClick={() => fileInput.current?.click()} title="Open NIfTI / PNG files (Ctrl+O)">
            Open files…
          </button>
          <input
            ref={fileInput}
            data-testid="file-input"
            type="file"
            multiple
            accept=".nii,.gz,.png,.onnx,.json,.zip,.dcm"
            hidden
            onChange={(e) => {
              pick(e.target.files);
              e.target.value = '';
            }}
          />
          <button type="button" className="btn" onClick={() => folderInput.current?.click()} title="Open a folder: DICOM series, an nnU-Net case or a model bundle">
            Open folder…
          </button>
          <input
            ref={folderInput}
            data-testid="folder-input"
            type="file"
            multiple
            hidden
            {...{ webkitdirectory: '' }}
            onChange={(e) => {
              pick(e.target.files);
              e.target.value = '';
            }}
          />
          <button type="button" className="btn btn-accent" data-testid="run-demo" disabled={busy} onClick={() => void runDemo()}>
            Run demo
          </button>
        </div>
      </header>
      <TrainView hidden={page !== 'train'} />
      <main className="workspace" hidden={page !== 'segment'}>
        <section className="viewer-area" aria-label="Image viewer">
          <ErrorBanner />
          <Viewer />
        </section>
        <aside className="sidebar" aria-label="Controls">
          <ImagePanel />
          <ModelPanel />
          <SegmentPanel />
          <ResultsPanel />
        </aside>
      </main>
      <footer className="footer">
        <span>
          <span className="dot-ok" aria-hidden /> Runs locally — no data leaves this device · offline capable
        </span>
        <span>Research software · not for clinical use</span>
      </footer>
      <DropZone />
      <SeriesPicker />
    </div>
  );
}
