/* The visit page (/m/visit): ① check-in with position and a face photo, ② items 合格/不合格/不适用 with
   photos taken in the page, ③ signatures and check-out. Online, every step goes to the server at once
   (which refuses > 100 m, an expired certificate, a photo without time or position). Offline, the whole
   visit is kept in IndexedDB with its original times and positions and queued for upload (shell.js). */
(function () {
  'use strict';
  var root = document.querySelector('[data-visit]');
  if (!root) { return; }
  var params = new URLSearchParams(window.location.search);
  var API = '/api/v1/elevators';
  var state = { elevator: null, plan: null, kind: params.get('kind') === 'repair' ? 'repair' : 'maintenance',
                proof: params.get('proof') || 'code', order: null, offline: false, record: null,
                items: [], results: {}, photos: {}, face: null, coworkers: [] };
  function $(sel, el) { return (el || root).querySelector(sel); }
  function show(step) {
    root.querySelectorAll('[data-step]').forEach(function (s) { s.hidden = s.dataset.step !== step; });
    window.scrollTo(0, 0);
  }
  function text(el, value) { if (el) { el.textContent = value || ''; } }
  function errorOf(res) {
    var e = (res.data && res.data.error) || {};
    if (e.fields) { var msgs = Object.keys(e.fields).map(function (k) { return e.fields[k]; }); if (msgs.length) { return msgs.join('；'); } }
    return e.message || ('请求失败（' + res.status + '）');
  }
  function online() { return navigator.onLine; }
  function pack() { return GxQueue.cacheGet('today').then(function (p) { return p || { elevators: [], plans: [], items: {}, coworkers: [] }; }); }

  // ------------------------------------------------------------ loading
  function renderElevator() {
    var e = state.elevator, box = $('[data-elevator-box]');
    box.innerHTML = '';
    var h = document.createElement('h2'); h.textContent = e.name; box.appendChild(h);
    var p = document.createElement('p'); p.className = 'small mb-0';
    p.textContent = e.elevator_type_label + ' · 救援码 ' + e.rescue_code + ' · ' + e.use_org + (e.site ? ' · ' + e.site : '');
    box.appendChild(p);
    var k = document.createElement('p'); k.className = 'small mb-0 text-body-secondary';
    k.textContent = (state.kind === 'repair' ? '维修' : '维保') + (state.order ? ' · 工单 ' + state.order.order_no + '（' + state.order.status_label + '）' : '');
    k.setAttribute('data-testid', 'visit-kind');
    box.appendChild(k);
  }
  function loadElevator(id) {
    return GxApi('GET', API + '/' + id).then(function (res) {
      if (!res.ok) { throw new Error(errorOf(res)); }
      return res.data;
    }).catch(function (err) {
      if (online() && err && err.message && err.message.indexOf('Failed to fetch') < 0) { throw err; }
      return pack().then(function (p) {
        var e = (p.elevators || []).filter(function (x) { return String(x.id) === String(id); })[0];
        if (!e) { throw new Error('离线状态下只能打开今日计划中的电梯'); }
        e.plans = (p.plans || []).filter(function (x) { return String(x.equipment_id) === String(id); });
        return e;
      });
    });
  }
  function loadItems() {
    if (state.kind === 'repair') { return Promise.resolve([]); }
    var type = $('[data-maint-type]').value, key = state.elevator.elevator_type + ':' + type;
    return GxApi('GET', API + '/items?elevator_type=' + state.elevator.elevator_type + '&maint_type=' + type)
      .then(function (res) { if (!res.ok) { throw new Error(errorOf(res)); } return res.data.items; })
      .catch(function () { return pack().then(function (p) {
        if (!p.items[key]) { throw new Error('离线状态下没有该类维保项目的缓存'); }
        return p.items[key];
      }); });
  }
  function loadCoworkers() {
    return pack().then(function (p) {
      var sel = $('[data-coworker]');
      (p.coworkers || []).forEach(function (c) {
        var o = document.createElement('option'); o.value = c.username; o.textContent = c.name; sel.appendChild(o);
      });
    });
  }

  // ------------------------------------------------------------ ① check-in
  var faceVideo = $('[data-face-video]'), facePreview = $('[data-face-preview]');
  function openFace() {
    return GxCamera.open(faceVideo, 'user').catch(function (err) { text($('[data-checkin-error]'), '无法打开相机：' + err.message); });
  }
  $('[data-face-open]').addEventListener('click', openFace);
  $('[data-face-take]').addEventListener('click', function () {
    var shot = GxCamera.ready(faceVideo) ? GxCamera.capture(faceVideo, 800) : null;
    if (!shot) { text($('[data-checkin-error]'), '相机尚未就绪，请先打开前置相机'); return; }
    state.face = shot;
    facePreview.src = shot; facePreview.hidden = false; faceVideo.hidden = true;
    GxCamera.stop(faceVideo);
  });
  $('[data-checkin]').addEventListener('click', function () {
    var err = $('[data-checkin-error]');
    text(err, '');
    if (!state.face) { text(err, '请先拍摄人脸照片'); return; }
    var button = this;
    button.disabled = true;
    GxPosition().then(function (pos) {
      var body = { client_id: GxQueue.clientId(), equipment_id: state.elevator.id, kind: state.kind, proof: state.proof,
                   plan_id: state.plan ? state.plan.id : null, maint_type: $('[data-maint-type]').value,
                   lat: pos.lat, lng: pos.lng, at: new Date().toISOString(), face_photo: state.face };
      if (!online()) { return startOffline(body); }
      return GxApi('POST', API + '/work-orders', body).then(function (res) {
        if (!res.ok) { throw new Error(errorOf(res)); }
        state.order = res.data;
        return afterCheckin();
      }, function () { return startOffline(body); });
    }).catch(function (e) { text(err, e.message); }).then(function () { button.disabled = false; });
  });
  function startOffline(checkin) {
    state.offline = true;
    state.record = { client_id: checkin.client_id, title: state.elevator.name + ' ' + (state.kind === 'repair' ? '维修' : $('[data-maint-type] option:checked').textContent),
                     state: 'draft', payload: { client_id: checkin.client_id, checkin: checkin, results: [], photos: [], checkout: {} } };
    return GxQueue.add(state.record).then(afterCheckin);
  }
  function saveDraft() { return state.offline ? GxQueue.update(state.record) : Promise.resolve(); }
  function afterCheckin() {
    renderElevator();
    return loadItems().then(function (items) { state.items = items; renderItems(); show('items'); });
  }

  // ------------------------------------------------------------ ② items and photos
  function renderItems() {
    var box = $('[data-items]');
    box.textContent = '';
    $('[data-repair-box]').hidden = state.kind !== 'repair';
    $('[data-all-ok]').hidden = state.kind === 'repair';
    state.items.forEach(function (item) {
      var div = document.createElement('div');
      div.className = 'm-item'; div.setAttribute('data-item', item.id); div.setAttribute('data-testid', 'item');
      var title = document.createElement('div'); title.innerHTML = '<b></b>'; title.firstChild.textContent = item.item;
      if (item.photo_required) { var np = document.createElement('span'); np.className = 'need-photo'; np.textContent = ' 须拍照'; title.appendChild(np); }
      var req = document.createElement('div'); req.className = 'req'; req.textContent = item.requirement;
      var choices = document.createElement('div'); choices.className = 'choices';
      [['ok', '合格'], ['fail', '不合格'], ['na', '不适用']].forEach(function (c) {
        var label = document.createElement('label'); if (c[0] === 'fail') { label.className = 'fail'; }
        var input = document.createElement('input'); input.type = 'radio'; input.name = 'r' + item.id; input.value = c[0];
        if (state.results[item.id] && state.results[item.id].result === c[0]) { input.checked = true; }
        input.addEventListener('change', function () { setResult(item.id, c[0]); });
        label.appendChild(input); label.appendChild(document.createTextNode(c[1])); choices.appendChild(label);
      });
      var note = document.createElement('input'); note.className = 'form-control form-control-sm'; note.placeholder = '说明（不合格必填）';
      note.value = (state.results[item.id] && state.results[item.id].note) || '';
      note.addEventListener('change', function () { setResult(item.id, null, note.value); });
      div.appendChild(title); div.appendChild(req); div.appendChild(choices); div.appendChild(note);
      if (item.photo_required) {
        var b = document.createElement('button'); b.type = 'button'; b.className = 'btn btn-outline-secondary btn-sm mt-1';
        b.textContent = '拍照'; b.setAttribute('data-testid', 'item-photo');
        b.addEventListener('click', function () { takePhoto(item, 'item'); });
        var thumbs = document.createElement('div'); thumbs.className = 'm-thumbs'; thumbs.setAttribute('data-thumbs', item.id);
        div.appendChild(b); div.appendChild(thumbs);
      }
      box.appendChild(div);
    });
    (state.order && state.order.photos || []).forEach(function (p) {
      if (p.purpose !== 'face') { addThumb(p.purpose === 'item' ? p.item_id : 'repair', '/attachments/' + p.attachment_id); }
    });
    progress();
  }
  function setResult(id, result, note) {
    var r = state.results[id] || { item_id: id };
    if (result) { r.result = result; }
    if (note !== undefined) { r.note = note; }
    state.results[id] = r;
    progress();
  }
  function progress() {
    var done = state.items.filter(function (i) { return state.results[i.id] && state.results[i.id].result; }).length;
    text($('[data-progress]'), state.kind === 'repair' ? '' : '已填 ' + done + '/' + state.items.length);
  }
  $('[data-all-ok]').addEventListener('click', function () {
    state.items.forEach(function (i) { if (!(state.results[i.id] && state.results[i.id].result)) { setResult(i.id, 'ok'); } });
    renderItems();
  });
  var sheet = $('[data-photo-sheet]'), photoVideo = $('[data-photo-video]'), photoFor = null;
  function takePhoto(item, purpose) {
    photoFor = { item: item, purpose: purpose };
    text($('[data-photo-title]'), purpose === 'repair' ? '维修现场照片' : item.item);
    sheet.hidden = false;
    GxCamera.open(photoVideo, 'environment').catch(function (err) { sheet.hidden = true; text($('[data-items-error]'), '无法打开相机：' + err.message); });
  }
  $('[data-repair-photo]').addEventListener('click', function () { takePhoto(null, 'repair'); });
  $('[data-photo-cancel]').addEventListener('click', function () { GxCamera.stop(photoVideo); sheet.hidden = true; });
  $('[data-photo-take]').addEventListener('click', function () {
    var shot = GxCamera.ready(photoVideo) ? GxCamera.capture(photoVideo, 1600) : null;
    if (!shot) { return; }
    var target = photoFor, takenAt = new Date().toISOString();
    GxCamera.stop(photoVideo); sheet.hidden = true;
    GxPosition().then(function (pos) {
      var meta = { client_id: GxQueue.clientId(), taken_at: takenAt, lat: pos.lat, lng: pos.lng, purpose: target.purpose,
                   item_id: target.item ? target.item.id : '' };
      var key = target.item ? target.item.id : 'repair';
      if (state.offline) {
        meta.data = shot;
        state.record.payload.photos.push(meta);
        (state.photos[key] = state.photos[key] || []).push(meta.client_id);
        addThumb(key, shot);
        return saveDraft();
      }
      var form = new FormData();
      Object.keys(meta).forEach(function (k) { form.append(k, meta[k]); });
      form.append('file', dataUrlBlob(shot), 'photo.jpg');
      return fetch(API + '/work-orders/' + state.order.id + '/photos', { method: 'POST', body: form, credentials: 'same-origin',
        headers: { 'X-CSRFToken': document.querySelector('meta[name="csrf-token"]').content } })
        .then(function (r) { return r.json().then(function (d) { return { ok: r.ok, status: r.status, data: d }; }); })
        .then(function (res) {
          if (!res.ok) { throw new Error(errorOf(res)); }
          (state.photos[key] = state.photos[key] || []).push(res.data.id);
          addThumb(key, '/attachments/' + res.data.attachment_id);
        });
    }).catch(function (e) { text($('[data-items-error]'), '照片未保存：' + e.message); });
  });
  function dataUrlBlob(url) {
    var parts = url.split(','), bin = atob(parts[1]), arr = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { arr[i] = bin.charCodeAt(i); }
    return new Blob([arr], { type: 'image/jpeg' });
  }
  function addThumb(key, src) {
    var box = key === 'repair' ? $('[data-repair-thumbs]') : $('[data-thumbs="' + key + '"]');
    if (!box) { return; }
    var img = document.createElement('img'); img.src = src; img.alt = '现场照片'; img.setAttribute('data-testid', 'thumb');
    box.appendChild(img);
  }
  function photoCount(key) {
    var n = (state.photos[key] || []).length;
    (state.order && state.order.photos || []).forEach(function (p) {
      if (p.purpose !== 'face' && String(p.purpose === 'item' ? p.item_id : 'repair') === String(key)) { n += 1; }
    });
    return n;
  }
  $('[data-items-next]').addEventListener('click', function () {
    var err = $('[data-items-error]');
    text(err, '');
    var missing = state.items.filter(function (i) { return !(state.results[i.id] && state.results[i.id].result); });
    if (missing.length) { text(err, '还有 ' + missing.length + ' 个项目未填写结果（如【' + missing[0].item + '】）'); return; }
    var bad = state.items.filter(function (i) { return state.results[i.id].result === 'fail' && !(state.results[i.id].note || '').trim(); });
    if (bad.length) { text(err, '【' + bad[0].item + '】不合格须填写说明'); return; }
    var nophoto = state.items.filter(function (i) { return i.photo_required && state.results[i.id].result !== 'na' && !photoCount(i.id); });
    if (nophoto.length) { text(err, '【' + nophoto[0].item + '】须现场拍照'); return; }
    if (state.kind === 'repair') {
      if (!$('[data-fault]').value.trim()) { text(err, '请填写故障描述'); return; }
      if (!photoCount('repair')) { text(err, '维修须至少拍摄一张现场照片'); return; }
    }
    var results = Object.keys(state.results).map(function (k) { return state.results[k]; });
    if (state.offline) {
      state.record.payload.results = results;
      return saveDraft().then(function () { show('sign'); });
    }
    var save = results.length ? GxApi('POST', API + '/work-orders/' + state.order.id + '/results', { results: results }) : Promise.resolve({ ok: true });
    save.then(function (res) { if (!res.ok) { throw new Error(errorOf(res)); } show('sign'); })
      .catch(function (e) { text(err, e.message); });
  });

  // ------------------------------------------------------------ ③ signatures and check-out
  $('[data-sign-form]').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var form = this, err = $('[data-sign-error]');
    text(err, '');
    var body = { maintainer_signature: $('[data-sig="maintainer"]').value, coworker: form.coworker.value,
                 coworker_signature: $('[data-sig="coworker"]').value, remark: form.remark.value,
                 fault_description: $('[data-fault]').value, parts: $('[data-parts]').value };
    if (!body.maintainer_signature) { text(err, '请维保人员在签名板上签名'); return; }
    if (body.coworker && !body.coworker_signature) { text(err, '请协作人在签名板上签名'); return; }
    GxPosition().then(function (pos) {
      body.lat = pos.lat; body.lng = pos.lng; body.at = new Date().toISOString();
      if (state.offline) {
        state.record.payload.checkout = body;
        state.record.state = 'pending';
        return GxQueue.update(state.record).then(function () {
          text($('[data-done-text]'), '当前离线，本次作业已保存到手机（待上传），联网后自动按顺序上传。');
          show('done');
          return window.GxRefreshQueue && GxRefreshQueue();
        }).then(function () { if (online() && window.GxUpload) { GxUpload(); } });
      }
      return GxApi('POST', API + '/work-orders/' + state.order.id + '/finish', body).then(function (res) {
        if (!res.ok) { throw new Error(errorOf(res)); }
        state.order = res.data;
        text($('[data-done-text]'), '已签退，工单 ' + res.data.order_no + ' ' + res.data.status_label + '。');
        show('done');
      });
    }).catch(function (e) { text(err, e.message); });
  });

  // ------------------------------------------------------------ start
  function resumeOrder(id) {
    return GxApi('GET', API + '/work-orders/' + id).then(function (res) {
      if (!res.ok) { throw new Error(errorOf(res)); }
      state.order = res.data;
      state.kind = res.data.kind;
      (res.data.results || []).forEach(function (r) { state.results[r.item_id] = { item_id: r.item_id, result: r.result, note: r.note || '' }; });
      if (res.data.fault_description) { $('[data-fault]').value = res.data.fault_description; }
      if (res.data.parts) { $('[data-parts]').value = res.data.parts; }
      return loadElevator(res.data.equipment_id);
    }).then(function (e) {
      state.elevator = e;
      $('[data-maint-type]').value = state.order.maint_type || 'HALF';
      renderElevator();
      if (state.order.status === 'returned') {
        var box = $('[data-elevator-box]'), p = document.createElement('p');
        p.className = 'text-danger small'; p.textContent = '退回理由：' + (state.order.return_reason || '');
        box.appendChild(p);
        var again = document.createElement('button'); again.type = 'button'; again.className = 'btn btn-primary w-100 mt-2';
        again.textContent = '已整改，重新提交'; again.setAttribute('data-testid', 'resubmit');
        again.addEventListener('click', function () {
          var results = Object.keys(state.results).map(function (k) { return state.results[k]; });
          GxApi('POST', API + '/work-orders/' + state.order.id + '/results', { results: results })
            .then(function () { return GxApi('POST', API + '/work-orders/' + state.order.id + '/resubmit', { note: '已按退回意见整改' }); })
            .then(function (res) { if (!res.ok) { throw new Error(errorOf(res)); }
              text($('[data-done-text]'), '已重新提交，等待使用单位确认。'); show('done'); })
            .catch(function (e) { text($('[data-items-error]'), e.message); });
        });
        $('[data-step="items"]').appendChild(again);
        $('[data-items-next]').hidden = true;
      }
      return loadItems().then(function (items) { state.items = items; renderItems(); show('items'); });
    });
  }
  function startNew(id) {
    return loadElevator(id).then(function (e) {
      state.elevator = e;
      var planId = params.get('plan');
      state.plan = (e.plans || []).filter(function (p) { return String(p.id) === String(planId); })[0] || (planId ? null : null);
      if (!state.plan && e.next_plan && String(e.next_plan.id) === String(planId)) { state.plan = e.next_plan; }
      if (state.plan) { $('[data-maint-type]').value = state.plan.maint_type; }
      $('[data-maint-type-box]').hidden = state.kind === 'repair';
      renderElevator();
      show('checkin');
      openFace();
    });
  }
  loadCoworkers();
  (params.get('order') ? resumeOrder(params.get('order')) : startNew(params.get('equipment')))
    .catch(function (e) { $('[data-elevator-box]').textContent = e.message; });
}());
