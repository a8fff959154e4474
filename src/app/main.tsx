import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { init, installTestHook, loadDemoImage, loadDemoModel, runDemo } from './engine.ts';
import { setOptions } from './store.ts';
import './styles.css';

installTestHook();
createRoot(document.getElementById('root')!).render(<App />);

// The page opens with the demo volume showing and the demo model ready: one click on "Segment".
// URL options (for kiosk demos and the cold-start benchmark): ?device=auto|webgpu|wasm, ?tta=0, ?demo=run
const params = new URLSearchParams(location.search);
const device = params.get('device');
if (device === 'auto' || device === 'webgpu' || device === 'wasm') setOptions({ device });
if (params.get('tta') === '0') setOptions({ tta: false });
void init()
  .then(() => Promise.all([loadDemoImage(), loadDemoModel()]))
  .then(() => (params.get('demo') === 'run' ? runDemo() : undefined));

if (import.meta.env.PROD && 'serviceWorker' in navigator) {
  navigator.serviceWorker
    .register('./sw.js', { scope: './' })
    .then((reg) => {
      if (navigator.onLine) reg.active?.postMessage('segstudio:check-update');
    })
    .catch(() => {
    /* offline use unavailable (e.g. private mode); the app still works online */
  });
}
