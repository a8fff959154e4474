import type { ReactNode } from 'react';
import { useApp } from '../store.ts';

/** "WebGPU (adapter)" or "CPU (WASM, N threads)": what runs (or will run) the network, with the reason for CPU. */
export function StatusChip(): ReactNode {
  const runtime = useApp((s) => s.runtime);
  const result = useApp((s) => s.result);
  const device = useApp((s) => s.options.device);
  if (!runtime) return <span className="chip chip-muted" data-testid="status">Starting…</span>;
  let text: string;
  let title: string;
  let kind = 'chip-gpu';
  if (result) {
    text = result.deviceLabel;
    title = result.fallbackReason ? `Fell back to CPU: ${result.fallbackReason}` : `Last segmentation ran on ${result.deviceLabel}`;
    if (result.device === 'wasm') kind = result.fallbackReason ? 'chip-warn' : 'chip-cpu';
  } else if (device !== 'wasm' && runtime.webgpuAdapter) {
    text = `WebGPU (${runtime.webgpuAdapter})`;
    title = runtime.webgpuIsFallbackAdapter ? 'Software WebGPU adapter (no GPU acceleration)' : 'GPU available';
  } else {
    text = `CPU (WASM, ${runtime.threads} thread${runtime.threads === 1 ? '' : 's'})`;
    title = device === 'wasm' ? 'WASM chosen in the options' : `No WebGPU: ${runtime.webgpuReason ?? 'unavailable'}`;
    kind = device === 'wasm' ? 'chip-cpu' : 'chip-warn';
  }
  const reason = result?.fallbackReason ?? (device !== 'wasm' && !runtime.webgpuAdapter ? runtime.webgpuReason : null);
  return (
    <span className={`chip ${kind}`} data-testid="status" title={title} role="status">
      <span className="chip-dot" aria-hidden />
      {text}
      {reason ? <span className="chip-reason"> — {reason}</span> : null}
    </span>
  );
}
