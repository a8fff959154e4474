import { createRoot } from 'react-dom/client';
import { App } from './App.tsx';
import { init, installTestHook, loadDemoImage, loadDemoModel } from './engine.ts';
import './styles.css';

installTestHook();
createRoot(document.getElementById('root')!).render(<App />);

// The page opens with the demo volume showing and the demo model ready: one click on "Segment".
void init().then(() => Promise.all([loadDemoImage(), loadDemoModel()]));

if (import.meta.env.PROD && 'serviceWorker' in navigator) {
  navigator.serviceWorker.register('./sw.js', { scope: './' }).catch(() => {
    /* offline use unavailable (e.g. private mode); the app still works online */
  });
}
