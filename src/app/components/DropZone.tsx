import { useEffect, type ReactNode } from 'react';
import { openFiles, type DroppedFile } from '../engine.ts';
import { get, set, useApp } from '../store.ts';
import { looksLikeRawDataset, openDatasetInTrainView } from '../train/trainEngine.ts';

/** Collects files from a drop, walking dropped folders (webkitGetAsEntry) with their relative paths. */
async function filesFromDrop(dt: DataTransfer): Promise<DroppedFile[]> {
  const out: DroppedFile[] = [];
  const entries = Array.from(dt.items ?? [])
    .map((it) => (it.kind === 'file' && typeof it.webkitGetAsEntry === 'function' ? it.webkitGetAsEntry() : null))
    .filter((e): e is FileSystemEntry => Boolean(e));
  if (entries.length === 0 || entries.every((e) => e.isFile)) {
    for (const f of Array.from(dt.files)) out.push({ path: f.name, file: f });
    return out;
  }
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
      out.push({ path: prefix + entry.name, file });
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (batch.length === 0) break;
        for (const e of batch) await walk(e, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const e of entries) await walk(e, '');
  return out;
}

export function DropZone(): ReactNode {
  const dragging = useApp((s) => s.dragging);
  const train = useApp((s) => s.page === 'train');
  useEffect(() => {
    let depth = 0;
    const hasFiles = (e: DragEvent) => Array.from(e.dataTransfer?.types ?? []).includes('Files');
    const enter = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth++;
      set({ dragging: true });
    };
    const over = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
    };
    const leave = (e: DragEvent) => {
      if (!hasFiles(e)) return;
      depth = Math.max(0, depth - 1);
      if (depth === 0) set({ dragging: false });
    };
    const drop = (e: DragEvent) => {
      if (!e.dataTransfer) return;
      e.preventDefault();
      depth = 0;
      set({ dragging: false });
      // the Train view takes dataset folders / zips; the Segment view images and models
      // (an nnU-Net raw dataset folder dropped on the Segment view opens in the Train view)
      void filesFromDrop(e.dataTransfer).then((files) => (get().page === 'train' || looksLikeRawDataset(files) ? openDatasetInTrainView(files) : openFiles(files)));
    };
    window.addEventListener('dragenter', enter);
    window.addEventListener('dragover', over);
    window.addEventListener('dragleave', leave);
    window.addEventListener('drop', drop);
    return () => {
      window.removeEventListener('dragenter', enter);
      window.removeEventListener('dragover', over);
      window.removeEventListener('dragleave', leave);
      window.removeEventListener('drop', drop);
    };
  }, []);
  if (!dragging) return null;
  if (train)
    return (
      <div className="dropzone" data-testid="dropzone" aria-hidden>
        <div className="dropzone-inner">
          <div className="dropzone-icon">⤓</div>
          <div className="dropzone-title">Drop an nnU-Net dataset folder or .zip</div>
          <div className="dropzone-sub">dataset.json, imagesTr/, labelsTr/ · checked, fingerprinted and planned on this device only</div>
        </div>
      </div>
    );
  return (
    <div className="dropzone" data-testid="dropzone" aria-hidden>
      <div className="dropzone-inner">
        <div className="dropzone-icon">⤓</div>
        <div className="dropzone-title">Drop NIfTI, PNG, DICOM (folder or .zip) or a folder</div>
        <div className="dropzone-sub">Images open in the viewer · a model bundle (folder, .zip or .onnx + card) becomes the model</div>
        <div className="dropzone-sub">Files are read on this device only</div>
      </div>
    </div>
  );
}
