// SegStudio service worker (hand-written): precaches the built app, the onnxruntime-web runtime and the
// bundled demo model listed in precache.json (written by the build), so a reload without network still
// opens the app and segments the demo. Same-origin GET requests only; nothing is ever sent anywhere.
const PREFIX = 'segstudio-';
const META = 'segstudio-meta';
const CURRENT = './__segstudio_current_cache';

async function currentCacheName() {
  const hit = await (await caches.open(META)).match(CURRENT);
  return hit ? hit.text() : null;
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const res = await fetch('./precache.json', { cache: 'no-store' });
      if (!res.ok) throw new Error(`precache.json: HTTP ${res.status}`);
      const { version, urls } = await res.json();
      const name = PREFIX + version;
      const cache = await caches.open(name);
      await cache.addAll(urls.map((u) => new Request(u, { cache: 'reload' })));
      await (await caches.open(META)).put(CURRENT, new Response(name));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      const mine = await currentCacheName();
      for (const k of await caches.keys()) if (k.startsWith(PREFIX) && k !== META && k !== mine) await caches.delete(k);
      await self.clients.claim();
    })(),
  );
});

async function fromCache(request) {
  const name = await currentCacheName();
  if (!name) return undefined;
  const cache = await caches.open(name);
  return cache.match(request, { ignoreSearch: request.mode === 'navigate', ignoreVary: true });
}

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  if (req.mode === 'navigate') {
    // network first (a fresh app when online), the cached shell when offline
    event.respondWith(
      fetch(req).catch(async () => (await fromCache(req)) ?? (await fromCache(new Request('./'))) ?? Response.error()),
    );
    return;
  }
  event.respondWith(
    (async () => {
      const hit = await fromCache(req);
      return hit ?? fetch(req);
    })(),
  );
});
