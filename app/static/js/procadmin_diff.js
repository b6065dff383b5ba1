/*
 * procadmin_diff.js - two read-only diagrams side by side (vendored NavigatedViewer, global `BpmnJS`),
 * marking elements removed/changed (old) and added/changed (new).
 * Page contract: <div class="pa-diff-canvas" data-xml-url="…" data-markers='{"removed": [ids], …}'>.
 */
(function () {
  'use strict';
  Array.prototype.forEach.call(document.querySelectorAll('.pa-diff-canvas'), function (box) {
    var viewer = new window.BpmnJS({container: box});
    var markers = JSON.parse(box.getAttribute('data-markers') || '{}');
    fetch(box.getAttribute('data-xml-url'), {credentials: 'same-origin'})
      .then(function (resp) { return resp.text(); })
      .then(function (xml) { return viewer.importXML(xml); })
      .then(function () {
        var canvas = viewer.get('canvas');
        var registry = viewer.get('elementRegistry');
        canvas.zoom('fit-viewport');
        Object.keys(markers).forEach(function (kind) {
          markers[kind].forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, 'pa-' + kind); } });
        });
        box.setAttribute('data-loaded', '1');
      })
      .catch(function (err) { box.textContent = '流程图加载失败：' + err.message; });
  });
})();
