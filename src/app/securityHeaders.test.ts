// One set of security headers everywhere: the Vite dev and preview servers (vite.config.ts), the static-host
// _headers file (public/_headers) and the nginx / Apache snippets in docs/deploy.md.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Plugin } from 'vite';
import viteConfig from '../../vite.config.ts';
import { parseCsp, securityHeaders } from './securityHeaders.ts';

const root = path.resolve(import.meta.dirname, '../..');
const lower = (h: Record<string, string>) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k.toLowerCase(), v]));
const expected = lower(securityHeaders);

/** The `/*` block of a Netlify / Cloudflare Pages _headers file. */
function headersFileBlock(text: string, pathPattern: string): Record<string, string> {
  const out: Record<string, string> = {};
  let inBlock = false;
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    if (!/^\s/.test(line)) {
      inBlock = line.trim() === pathPattern;
      continue;
    }
    if (!inBlock) continue;
    const m = /^\s+([A-Za-z-]+):\s*(.*)$/.exec(line);
    if (!m) throw new Error(`unparsable _headers line: ${line}`);
    out[m[1].toLowerCase()] = m[2].trim();
  }
  return out;
}

/** Headers the vite plugin sets on a response, for the dev server or the preview server. */
function viteHeaders(kind: 'configureServer' | 'configurePreviewServer'): Record<string, string> {
  const plugins = (viteConfig as { plugins: Plugin[] }).plugins.flat() as Plugin[];
  const plugin = plugins.find((p) => p && p.name === 'segstudio-security-headers');
  if (!plugin) throw new Error('vite.config.ts has no segstudio-security-headers plugin');
  const middlewares: ((req: unknown, res: unknown, next: () => void) => void)[] = [];
  const hook = plugin[kind] as unknown as (server: unknown) => void;
  hook({ middlewares: { use: (fn: (typeof middlewares)[number]) => middlewares.push(fn) } });
  const set: Record<string, string> = {};
  let nexts = 0;
  for (const mw of middlewares) mw({ url: '/' }, { setHeader: (k: string, v: string) => (set[k.toLowerCase()] = v) }, () => nexts++);
  expect(nexts).toBe(middlewares.length);
  return set;
}

describe('security headers', () => {
  it('the CSP keeps every request on the origin and allows WebAssembly compilation only', () => {
    const csp = parseCsp(securityHeaders['Content-Security-Policy']);
    expect(csp.get('connect-src')?.[0]).toBe("'self'");
    for (const src of csp.get('connect-src')!) expect(["'self'", 'blob:', 'data:']).toContain(src);
    expect(csp.get('default-src')).toEqual(["'self'"]);
    expect(csp.get('script-src')).toEqual(["'self'", "'wasm-unsafe-eval'"]);
    expect(csp.get('object-src')).toEqual(["'none'"]);
    // nothing anywhere names another host or allows everything
    for (const [, sources] of csp) for (const s of sources) expect(s).toMatch(/^('self'|'none'|'unsafe-inline'|'wasm-unsafe-eval'|blob:|data:)$/);
    expect(securityHeaders['Cross-Origin-Opener-Policy']).toBe('same-origin');
    expect(securityHeaders['Cross-Origin-Embedder-Policy']).toBe('require-corp');
  });

  it('the dev and the preview server send exactly these headers', () => {
    expect(viteHeaders('configureServer')).toEqual(expected);
    expect(viteHeaders('configurePreviewServer')).toEqual(expected);
  });

  it('public/_headers (Netlify, Cloudflare Pages) has the same set for every path', () => {
    const text = fs.readFileSync(path.join(root, 'public/_headers'), 'utf8');
    expect(headersFileBlock(text, '/*')).toEqual(expected);
    // the service worker files are revalidated
    expect(headersFileBlock(text, '/sw.js')['cache-control']).toBe('no-cache');
    expect(headersFileBlock(text, '/precache.json')['cache-control']).toBe('no-cache');
  });

  it('docs/deploy.md: the nginx and Apache snippets and the CSP line repeat the same set', () => {
    const md = fs.readFileSync(path.join(root, 'docs/deploy.md'), 'utf8');
    const block = (lang: string) => {
      const m = new RegExp('```' + lang + '\\n([\\s\\S]*?)```').exec(md);
      if (!m) throw new Error(`docs/deploy.md has no ${lang} block`);
      return m[1];
    };
    const nginx: Record<string, string> = {};
    for (const m of block('nginx').matchAll(/^ {2}add_header ([A-Za-z-]+) "([^"]*)" always;$/gm)) nginx[m[1].toLowerCase()] = m[2];
    expect(nginx).toEqual(expected);
    const apache: Record<string, string> = {};
    for (const m of block('apache').matchAll(/^Header always set ([A-Za-z-]+) "([^"]*)"$/gm)) apache[m[1].toLowerCase()] = m[2];
    expect(apache).toEqual(expected);
    expect(md).toContain(`Content-Security-Policy: ${securityHeaders['Content-Security-Policy']}\n`);
  });
});
