import { defineConfig } from 'vitest/config';

// vitest 5's error summary calls Map.groupBy (Node ≥ 21); on Node 20 a failing test would crash the reporter
// instead of printing its error. Minimal polyfill for the reporter process.
if (typeof (Map as unknown as { groupBy?: unknown }).groupBy !== 'function') {
  (Map as unknown as { groupBy: <T, K>(items: Iterable<T>, key: (t: T, i: number) => K) => Map<K, T[]> }).groupBy = (items, key) => {
    const m = new Map();
    let i = 0;
    for (const it of items) {
      const k = key(it, i++);
      if (!m.has(k)) m.set(k, []);
      m.get(k).push(it);
    }
    return m;
  };
}

// End-to-end tests: the built app (vite build + vite preview, see globalSetup.ts) driven by playwright-core in
// Debian's Chromium with real WebGPU (SwiftShader) and WASM. No mocks of ORT, NiiVue or the GPU.
export default defineConfig({
  test: {
    root: '.',
    include: ['e2e/**/*.e2e.ts'],
    environment: 'node',
    globalSetup: ['e2e/globalSetup.ts'],
    testTimeout: 240_000,
    hookTimeout: 240_000,
    fileParallelism: false,
    pool: 'forks',
    reporters: ['default'],
  },
});
