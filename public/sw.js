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

/** Caches everything precache.json lists under a cache named by its version; returns that name. */
async function precache() {
  const res = await fetch('./precache.json', { cache: 'no-store' });
  if (!res.ok) throw new Error(`precache.json: HTTP ${res.status}`);
  const { version, urls } = await res.json();
  const name = PREFIX + version;
  if (name === (await currentCacheName())) return name;
  const cache = await caches.open(name);
  await cache.addAll(urls.map((u) => new Request(u, { cache: 'reload' })));
  await (await caches.open(META)).put(CURRENT, new Response(name));
  return name;
}

async function dropOldCaches() {
  const mine = await currentCacheName();
  for (const k of await caches.keys()) if (k.startsWith(PREFIX) && k !== META && k !== mine) await caches.delete(k);
}

self.addEventListener('install', (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

// The page asks on every online load: a new build (new precache.json version) is cached completely
// before it replaces the old one, so offline use never sees half an update. (sw.js itself rarely changes.)
self.addEventListener('message', (event) => {
  if (event.data === 'segstudio:check-update') event.waitUntil(precache().then(dropOldCaches).catch(() => undefined));
});

self.addEventListener('activate', (event) => {
  event.waitUntil(dropOldCaches().then(() => self.clients.claim()));
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
      if (hit) return hit;
      const res = await fetch(req);
      // same-origin files not in the precache list (e.g. a newer build's assets) are kept for offline use
      if (res.ok && res.type === 'basic') {
        const name = await currentCacheName();
        if (name) event.waitUntil(caches.open(name).then((c) => c.put(req, res.clone())).catch(() => undefined));
      }
      return res;
    })(),
  );
});
