// Builds the app once and serves dist/ with `vite preview` (COOP/COEP/CSP headers) on a free 127.0.0.1 port.
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, preview, type PreviewServer } from 'vite';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
  }
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

let server: PreviewServer | null = null;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const t0 = Date.now();
  // vitest sets NODE_ENV=test, which would give a development bundle (dev React, no service worker)
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = 'production';
  try {
    await build({ root, configFile: path.join(root, 'vite.config.ts'), logLevel: 'warn', mode: 'production' });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
  const port = await freePort();
  server = await preview({ root, configFile: path.join(root, 'vite.config.ts'), logLevel: 'warn', preview: { host: '127.0.0.1', port, strictPort: true } });
  const baseUrl = `http://127.0.0.1:${port}/`;
  process.stderr.write(`e2e: built and serving ${baseUrl} (${((Date.now() - t0) / 1000).toFixed(1)} s)\n`);
  project.provide('baseUrl', baseUrl);
  return async () => {
    await new Promise<void>((r) => server?.httpServer.close(() => r()));
  };
}
