#!/usr/bin/env bash
# Builds the app and serves it locally (COOP/COEP/CSP headers on), with the bundled demo ready.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx vite build --logLevel warn
PORT=${PORT:-5173}
echo ""
echo "SegStudio is running at http://127.0.0.1:${PORT}/  (open it and press 'Run demo'; Ctrl+C stops)"
echo "Chrome/Edge 113+ have WebGPU; Chromium on Linux needs --enable-unsafe-webgpu (see README)."
exec npx vite preview --host 127.0.0.1 --port "$PORT" --strictPort
