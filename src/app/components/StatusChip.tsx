import type { ReactNode } from 'react';
import { useApp } from '../store.ts';

/** "WebGPU (adapter)" or "CPU (WASM, N threads)": what runs (or will run) the network, with the reason for CPU. */
export function StatusChip(): ReactNode {
  const runtime = useApp((s) => s.runtime);
  const result = useApp((s) => s.result);
  const device = useApp((s) => s.options.device);
  if (!runtime) {
    return (
      <span className="chip chip-muted" data-testid="status">
        Starting…
      </span>
    );
  }
  const cpu = `CPU (WASM, ${runtime.threads} thread${runtime.threads === 1 ? '' : 's'})`;
  let text: string;
  let reason: string | null = null;
  let kind = 'chip-gpu';
  if (result) {
    text = result.deviceLabel;
    reason = result.fallbackReason;
    if (result.device === 'wasm') kind = result.fallbackReason && device !== 'auto' ? 'chip-warn' : 'chip-cpu';
  } else if (runtime.webgpuAdapter && (device === 'webgpu' || (device === 'auto' && !runtime.webgpuIsFallbackAdapter))) {
    text = `WebGPU (${runtime.webgpuAdapter})`;
  } else {
    text = cpu;
    kind = 'chip-cpu';
    if (device !== 'wasm') {
      reason = runtime.webgpuAdapter ? `software WebGPU adapter (${runtime.webgpuAdapter}) is slower than WASM` : runtime.webgpuReason;
      if (!runtime.webgpuAdapter) kind = 'chip-warn';
    }
  }
  return (
    <span className={`chip ${kind}`} data-testid="status" title={reason ? `${text} — ${reason}` : text} role="status">
      <span className="chip-dot" aria-hidden />
      {text}
      {reason ? <span className="chip-reason"> — {reason}</span> : null}
    </span>
  );
}
