// A Vite dev server over the repository root for the e2e test pages under e2e/pages/ (test code that is not
// part of the app build), with the app's COOP/COEP/CSP headers from vite.config.ts.
import net from 'node:net';
import path from 'node:path';
import { createServer, type ViteDevServer } from 'vite';
import { repoRoot } from './helpers.ts';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startTestPageServer(): Promise<{ server: ViteDevServer; baseUrl: string }> {
  const port = await freePort();
  const server = await createServer({
    root: repoRoot,
    configFile: path.join(repoRoot, 'vite.config.ts'),
    logLevel: 'warn',
    server: { host: '127.0.0.1', port, strictPort: true, hmr: false },
    optimizeDeps: { noDiscovery: true, include: [] },
  });
  await server.listen();
  return { server, baseUrl: `http://127.0.0.1:${port}/` };
}
