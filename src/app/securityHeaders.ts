// The HTTP headers every SegStudio response needs, in one place: vite.config.ts sets them on the dev and
// preview servers, public/_headers (Netlify / Cloudflare Pages) and the nginx snippet in docs/deploy.md
// repeat them for static hosting, and src/app/securityHeaders.test.ts checks that all copies are equal.
//   COOP + COEP: cross-origin isolation, so onnxruntime-web can use WASM threads (SharedArrayBuffer).
//   CORP: our own files may only be embedded by our own origin.
//   CSP: every request stays on the page's origin (connect-src 'self': no CDN, no telemetry, no upload);
//        'wasm-unsafe-eval' is what compiling WebAssembly needs, nothing more.
export const securityHeaders: Record<string, string> = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Content-Security-Policy': [
    "default-src 'self'",
    "script-src 'self' 'wasm-unsafe-eval'",
    "worker-src 'self' blob:",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "connect-src 'self' blob: data:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "manifest-src 'self'",
  ].join('; '),
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** Parses a Content-Security-Policy value into directive → sources. */
export function parseCsp(value: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const part of value.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) out.set(name.toLowerCase(), sources);
  }
  return out;
}
