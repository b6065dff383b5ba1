/* The phone app's local store (IndexedDB "gx-mobile"): `queue` — records made offline, uploaded in the order
   they were made (key: client id, field `seq`); `cache` — data kept for offline work (today's elevators
   and items). window.GxQueue: add, all, remove, update, count, cacheGet, cachePut, clientId. */
(function () {
  'use strict';
  var DB = 'gx-mobile', VERSION = 1;
  function open() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open(DB, VERSION);
      req.onupgradeneeded = function () {
        var db = req.result;
        if (!db.objectStoreNames.contains('queue')) { db.createObjectStore('queue', { keyPath: 'client_id' }); }
        if (!db.objectStoreNames.contains('cache')) { db.createObjectStore('cache'); }
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  function tx(store, mode, fn) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(store, mode), s = t.objectStore(store), out;
        var r = fn(s);
        if (r) { r.onsuccess = function () { out = r.result; }; }
        t.oncomplete = function () { db.close(); resolve(out); };
        t.onerror = function () { db.close(); reject(t.error); };
      });
    });
  }
  function clientId() {
    var a = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(a);
    return 'c' + Date.now().toString(36) + Array.prototype.map.call(a, function (b) { return ('0' + b.toString(16)).slice(-2); }).join('');
  }
  window.GxQueue = {
    clientId: clientId,
    add: function (record) { record.seq = record.seq || Date.now(); record.state = record.state || 'pending';
      return tx('queue', 'readwrite', function (s) { return s.put(record); }); },
    update: function (record) { return tx('queue', 'readwrite', function (s) { return s.put(record); }); },
    all: function () { return tx('queue', 'readonly', function (s) { return s.getAll(); })
      .then(function (rows) { return (rows || []).sort(function (a, b) { return a.seq - b.seq; }); }); },
    remove: function (id) { return tx('queue', 'readwrite', function (s) { return s.delete(id); }); },
    count: function () { return tx('queue', 'readonly', function (s) { return s.count(); }); },
    cacheGet: function (key) { return tx('cache', 'readonly', function (s) { return s.get(key); }); },
    cachePut: function (key, value) { return tx('cache', 'readwrite', function (s) { return s.put(value, key); }); }
  };
}());
