#!/usr/bin/env bash
# Runs every test: type check, unit tests (Node: core pipeline, training engine on CPU and on WebGPU via
# SwiftShader) and end-to-end tests (Debian's Chromium with real WebGPU and WASM).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-/usr/lib/chromium/vk_swiftshader_icd.json}

echo "== typecheck" >&2
npx tsc --noEmit -p tsconfig.json
echo "== unit tests" >&2
npx vitest run
if [ -f e2e/vitest.config.ts ]; then
  echo "== end-to-end tests (Chromium)" >&2
  npx vitest run --config e2e/vitest.config.ts
fi
