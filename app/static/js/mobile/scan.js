/* Scan page: decode the elevator's QR code from the camera with jsQR (vendor/jsqr), or take a typed code;
   Web NFC reads a safety chip where the phone supports it. The code is resolved by GET
   /api/v1/elevators/lookup and the visit page opens for that elevator. */
(function () {
  'use strict';
  var box = document.querySelector('[data-scan]');
  if (!box) { return; }
  var video = box.querySelector('[data-scan-video]'), canvas = box.querySelector('[data-scan-canvas]');
  var error = box.querySelector('[data-scan-error]'), form = box.querySelector('[data-scan-form]');
  var scanning = false;
  function go(code, proof) {
    error.textContent = '';
    GxApi('GET', box.dataset.lookup + '?code=' + encodeURIComponent(code)).then(function (res) {
      if (!res.ok) { error.textContent = (res.data.error && res.data.error.message) || '未找到电梯'; return; }
      scanning = false;
      GxCamera.stop(video);
      var url = box.dataset.visit + '?equipment=' + res.data.id + '&proof=' + proof + '&kind=' + box.dataset.kind;
      if (res.data.next_plan && box.dataset.kind !== 'repair') { url += '&plan=' + res.data.next_plan.id; }
      window.location.href = url;
    }).catch(function () { error.textContent = '网络不可用：离线时请从首页的今日计划进入'; });
  }
  function tick() {
    if (!scanning) { return; }
    if (GxCamera.ready(video) && window.jsQR) {
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      var ctx = canvas.getContext('2d');
      ctx.drawImage(video, 0, 0);
      var img = ctx.getImageData(0, 0, canvas.width, canvas.height);
      var found = window.jsQR(img.data, img.width, img.height, { inversionAttempts: 'dontInvert' });
      if (found && found.data) { go(found.data, 'qr'); return; }
    }
    window.requestAnimationFrame(tick);
  }
  box.querySelector('[data-scan-start]').addEventListener('click', function () {
    GxCamera.open(video, 'environment').then(function () { scanning = true; tick(); })
      .catch(function (err) { error.textContent = '无法打开相机：' + err.message; });
  });
  form.addEventListener('submit', function (ev) { ev.preventDefault(); go(form.code.value.trim(), 'code'); });
  var nfc = box.querySelector('[data-nfc-start]');
  if ('NDEFReader' in window) {
    nfc.hidden = false;
    nfc.addEventListener('click', function () {
      var reader = new window.NDEFReader();
      reader.scan().then(function () {
        reader.onreading = function (ev) { go(ev.serialNumber.replace(/:/g, '').toUpperCase(), 'nfc'); };
      }).catch(function (err) { error.textContent = '无法读取安全芯：' + err.message; });
    });
  }
}());
