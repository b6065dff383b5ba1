/* Elevator detail (maintainers): bind the safety chip (安全芯) — read by Web NFC where the phone supports it,
   or typed — through POST /api/v1/elevators/<id>/chip. */
(function () {
  'use strict';
  var box = document.querySelector('[data-chip]');
  if (!box) { return; }
  var error = box.querySelector('[data-chip-error]');
  function bind(value) {
    error.textContent = '';
    GxApi('POST', box.dataset.url, { chip_id: value }).then(function (res) {
      if (!res.ok) { var e = res.data.error || {}; error.textContent = (e.fields && e.fields.chip_id) || e.message || '绑定失败'; return; }
      box.querySelector('[data-chip-current]').textContent = res.data.chip_id || '未绑定';
    });
  }
  box.querySelector('[data-chip-form]').addEventListener('submit', function (ev) { ev.preventDefault(); bind(this.chip_id.value); });
  var nfc = box.querySelector('[data-chip-nfc]');
  if ('NDEFReader' in window) {
    nfc.hidden = false;
    nfc.addEventListener('click', function () {
      var reader = new window.NDEFReader();
      reader.scan().then(function () { reader.onreading = function (ev) { bind(ev.serialNumber); }; })
        .catch(function (err) { error.textContent = '无法读取安全芯：' + err.message; });
    });
  }
}());
