// Service worker of the kiosk page: serves the page and its files from a cache when the hub is
// unreachable, so a board that reboots during an outage still comes up with what it last had.
// Slides and the manifest are the page's own business (Cache Storage and localStorage).
'use strict';

const PAGE_CACHE = 'hub-display-page-v1';

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (url.pathname === '/display' || url.pathname.startsWith('/display/static/')) {
    event.respondWith(networkFirst(event.request));
  }
});

async function networkFirst(request) {
  const cache = await caches.open(PAGE_CACHE);
  let response;
  try {
    response = await fetch(request);
  } catch (err) {
    const cached = await cache.match(request);
    if (cached) return cached;
    throw err;
  }
  if (response.ok) {
    await cache.put(request, response.clone());
  } else if (response.status === 401 || response.status === 403) {
    await cache.delete(request); // a revoked token must not come back from the cache
  } else if (response.status >= 500) {
    // A proxy in front of a stopped hub answers 502/503/504: as good as unreachable.
    const cached = await cache.match(request);
    if (cached) return cached;
  }
  return response;
}
