/* The phone shell: registers the service worker (/m/sw.js, scope /m/), shows 离线 and "待上传 N 条", caches
   today's work for offline use, and uploads the offline queue in order when the network is back
   (POST /api/v1/elevators/sync: idempotent by client id; refused records stay with their reason). */
(function () {
  'use strict';
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
  var uploading = false;
  function $(sel) { return document.querySelector(sel); }
  function api(method, url, body) {
    var opts = { method: method, credentials: 'same-origin', headers: { 'X-CSRFToken': csrf, 'Accept': 'application/json' } };
    if (body !== undefined) { opts.headers['Content-Type'] = 'application/json'; opts.body = JSON.stringify(body); }
    return fetch(url, opts).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) { return { ok: r.ok, status: r.status, data: data }; });
    });
  }
  window.GxApi = api;
  function refreshBadge() {
    if (!window.GxQueue) { return Promise.resolve(0); }
    return GxQueue.all().then(function (rows) {
      var n = rows.filter(function (r) { return r.state === 'pending' || r.state === 'refused'; }).length;
      var badge = $('[data-queue-badge]');
      if (badge) { badge.hidden = n === 0; badge.querySelector('[data-queue-count]').textContent = n; }
      renderQueue(rows);
      return n;
    });
  }
  window.GxRefreshQueue = refreshBadge;
  function renderQueue(rows) {
    var list = $('[data-queue-list]');
    if (!list) { return; }
    list.textContent = '';
    rows = rows.filter(function (r) { return r.state !== 'draft'; });
    if (!rows.length) { list.innerHTML = '<p class="m-empty">没有待上传的记录</p>'; return; }
    rows.forEach(function (r) {
      var div = document.createElement('div');
      div.className = 'queue-item';
      div.setAttribute('data-testid', 'queue-item');
      div.textContent = (r.title || r.client_id) + ' · ' + new Date(r.seq).toLocaleString('zh-CN');
      if (r.error) { var e = document.createElement('div'); e.className = 'err'; e.textContent = '上传被拒：' + r.error; div.appendChild(e); }
      list.appendChild(div);
    });
  }
  function upload() {
    if (uploading || !navigator.onLine || !window.GxQueue) { return Promise.resolve(); }
    uploading = true;
    return GxQueue.all().then(function (rows) {
      rows = rows.filter(function (r) { return r.state === 'pending'; });
      if (!rows.length) { return null; }
      var records = rows.map(function (r) { return r.payload; });
      return api('POST', '/api/v1/elevators/sync', { records: records }).then(function (res) {
        if (!res.ok) { return null; }
        var jobs = (res.data.results || []).map(function (result, i) {
          var row = rows[i];
          if (result.status === 'refused') { row.state = 'refused'; row.error = result.message; return GxQueue.update(row); }
          return GxQueue.remove(row.client_id);
        });
        return Promise.all(jobs);
      });
    }).catch(function () { return null; }).then(function () { uploading = false; return refreshBadge(); });
  }
  window.GxUpload = upload;
  function netStatus() {
    var el = $('[data-net-status]');
    if (el) { el.hidden = navigator.onLine; }
    if (navigator.onLine) { upload(); }
  }
  window.addEventListener('online', netStatus);
  window.addEventListener('offline', netStatus);
  var button = $('[data-queue-upload]');
  if (button) { button.addEventListener('click', function () {
    GxQueue.all().then(function (rows) {   // a retry of refused records: try them once more
      return Promise.all(rows.map(function (r) { if (r.state === 'refused') { r.state = 'pending'; return GxQueue.update(r); } return null; }));
    }).then(upload);
  }); }
  if ('serviceWorker' in navigator) { navigator.serviceWorker.register('/m/sw.js', { scope: '/m/' }).catch(function () {}); }
  // Today's work for offline use (maintainers): elevators, plans and items of today and the next days.
  if (navigator.onLine && document.body.dataset.user) {
    api('GET', '/api/v1/elevators/today').then(function (res) {
      if (res.ok && window.GxQueue) { GxQueue.cachePut('today', res.data); }
    }).catch(function () {});
  }
  netStatus();
  refreshBadge();
}());
