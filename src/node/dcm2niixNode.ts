// dcm2niix's WebAssembly build (@niivue/dcm2niix) in Node: the Emscripten module loaded from node_modules with
// the .wasm compiled once per process. For tests, fixtures and benchmarks (the page uses workers/dicom.worker.ts).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Dcm2niixFactory, Dcm2niixModule } from '../core/io/dicom/convert.ts';

function packageDist(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const cand = path.join(dir, 'node_modules', '@niivue', 'dcm2niix', 'dist');
    if (fs.existsSync(cand)) return cand;
    const up = path.dirname(dir);
    if (up === dir) throw new Error('@niivue/dcm2niix is not installed (npm ci)');
    dir = up;
  }
}

type EmscriptenFactory = (m: Record<string, unknown>) => Promise<Dcm2niixModule>;
let cached: Promise<{ create: EmscriptenFactory; wasm: WebAssembly.Module }> | null = null;

/** The JPEG-LS/JPEG 2000 capable build (the package's default export), as in the browser worker. */
export function nodeDcm2niixFactory(): Dcm2niixFactory {
  cached ??= (async () => {
    const dist = packageDist();
    const mod = (await import(pathToFileURL(path.join(dist, 'dcm2niix.jpeg.js')).href)) as { default: EmscriptenFactory };
    const wasm = await WebAssembly.compile(fs.readFileSync(path.join(dist, 'dcm2niix.jpeg.wasm')));
    return { create: mod.default, wasm };
  })();
  return async ({ print, printErr }) => {
    const { create, wasm } = await cached!;
    return create({
      print,
      printErr,
      // this Emscripten version awaits what instantiateWasm returns and takes it as the exports
      instantiateWasm: (imports: WebAssembly.Imports, done: (i: WebAssembly.Instance, m: WebAssembly.Module) => unknown) =>
        WebAssembly.instantiate(wasm, imports).then((inst) => done(inst, wasm)),
    });
  };
}
