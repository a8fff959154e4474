import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';
import { securityHeaders } from './src/app/securityHeaders.ts';

// COOP/COEP/CORP/CSP for dev and preview: one definition shared with public/_headers and docs/deploy.md.
export { securityHeaders };

function headersPlugin(): Plugin {
  return {
    name: 'segstudio-security-headers',
    configureServer(server) {
      server.middlewares.use((_req, res, next) => {
        for (const [k, v] of Object.entries(securityHeaders)) res.setHeader(k, v);
        next();
      });
    },
    configurePreviewServer(server) {
      server.middlewares.use((_req, res, next) => {
        for (const [k, v] of Object.entries(securityHeaders)) res.setHeader(k, v);
        next();
      });
    },
  };
}

// onnxruntime-web's runtime files, served from our origin under /ort/ (public/ort is generated, gitignored).
export const ORT_FILES = [
  'ort.webgpu.min.mjs',
  'ort.wasm.min.mjs',
  'ort-wasm-simd-threaded.asyncify.mjs',
  'ort-wasm-simd-threaded.asyncify.wasm',
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.wasm',
];

function ortFilesPlugin(): Plugin {
  const copy = () => {
    const src = path.resolve('node_modules/onnxruntime-web/dist');
    const dst = path.resolve('public/ort');
    fs.mkdirSync(dst, { recursive: true });
    for (const f of ORT_FILES) {
      const a = path.join(src, f);
      const b = path.join(dst, f);
      const sa = fs.statSync(a);
      const sb = fs.existsSync(b) ? fs.statSync(b) : null;
      if (!sb || sb.size !== sa.size || sb.mtimeMs < sa.mtimeMs) fs.copyFileSync(a, b);
    }
  };
  return { name: 'segstudio-ort-files', config: copy };
}

function listFiles(dir: string, prefix = ''): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(path.join(dir, e.name), rel));
    else out.push(rel);
  }
  return out;
}

// Precache list for the hand-written service worker (public/sw.js): every built file, the ORT runtime
// and the bundled demo model, plus a build id that names the cache.
function precachePlugin(): Plugin {
  let outDir = 'dist';
  return {
    name: 'segstudio-precache',
    apply: 'build',
    configResolved(c) {
      outDir = path.resolve(c.root, c.build.outDir);
    },
    closeBundle() {
      // _headers is read by the static host (Netlify, Cloudflare Pages) and not served: never precache it
      const files = listFiles(outDir).filter((f) => f !== 'precache.json' && f !== 'sw.js' && f !== '_headers' && !f.endsWith('.map'));
      const hash = createHash('sha256');
      for (const f of files.sort()) {
        const full = path.join(outDir, f);
        const st = fs.statSync(full);
        hash.update(`${f}:${st.size}\n`);
        if (st.size < 2 << 20) hash.update(fs.readFileSync(full));
      }
      const urls = ['./', ...files.filter((f) => f !== 'index.html').map((f) => `./${f}`)];
      fs.writeFileSync(path.join(outDir, 'precache.json'), JSON.stringify({ version: hash.digest('hex').slice(0, 16), urls }, null, 1));
    },
  };
}

export default defineConfig({
  plugins: [react(), headersPlugin(), ortFilesPlugin(), precachePlugin()],
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  build: { target: 'es2022', sourcemap: false, chunkSizeWarningLimit: 4096 },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
