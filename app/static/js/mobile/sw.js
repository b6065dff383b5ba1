/* Service worker of the phone app (scope /m/): the app shell (pages, scripts, styles) and today's data are
   cached; pages and API reads go network-first and fall back to the cache when offline; writes are never
   cached (the page queues them in IndexedDB). Version: __SHELL_VERSION__ */
'use strict';
var CACHE = 'gx-mobile-__SHELL_VERSION__';
var SHELL = ['/m/', '/m/visit', '/m/scan', '/m/queue', '/m/offline', '/m/manifest.webmanifest',
  '/static/vendor/bootstrap/5.3.9/bootstrap.min.css', '/static/css/mobile.css', '/static/js/signature.js',
  '/static/js/mobile/queue.js', '/static/js/mobile/shell.js', '/static/js/mobile/camera.js',
  '/static/js/mobile/visit.js', '/static/js/mobile/scan.js', '/static/js/mobile/chip.js', '/static/vendor/jsqr/1.4.0/jsQR.js',
  '/static/img/app-icon-192.png'];
self.addEventListener('install', function (ev) {
  ev.waitUntil(caches.open(CACHE).then(function (c) { return c.addAll(SHELL).catch(function () {}); }).then(function () { return self.skipWaiting(); }));
});
self.addEventListener('activate', function (ev) {
  ev.waitUntil(caches.keys().then(function (keys) {
    return Promise.all(keys.filter(function (k) { return k.indexOf('gx-mobile-') === 0 && k !== CACHE; }).map(function (k) { return caches.delete(k); }));
  }).then(function () { return self.clients.claim(); }));
});
self.addEventListener('fetch', function (ev) {
  var req = ev.request, url = new URL(req.url);
  if (req.method !== 'GET' || url.origin !== self.location.origin) { return; }
  var cacheable = url.pathname.indexOf('/m/') === 0 || url.pathname.indexOf('/static/') === 0 ||
    url.pathname === '/api/v1/elevators/today' || url.pathname.indexOf('/api/v1/elevators/items') === 0 ||
    /^\/api\/v1\/elevators\/\d+$/.test(url.pathname);
  if (!cacheable) { return; }
  ev.respondWith(fetch(req).then(function (res) {
    if (res.ok) { var copy = res.clone(); caches.open(CACHE).then(function (c) { c.put(req, copy); }); }
    return res;
  }).catch(function () {
    return caches.match(req, { ignoreSearch: url.pathname.indexOf('/api/') !== 0 }).then(function (hit) {
      return hit || (req.mode === 'navigate' ? caches.match('/m/offline') : new Response('{"error":{"code":"offline","message":"离线"}}',
        { status: 503, headers: { 'Content-Type': 'application/json' } }));
    });
  }));
});
