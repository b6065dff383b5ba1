/*
 * case_diagram.js - render a BPMN diagram read-only and highlight case progress.
 *
 * Requires the vendored bpmn-js NavigatedViewer (global `BpmnJS`), loaded before this file.
 * Plain browser JS: no modules, no build step, no eval/inline code (strict CSP).
 *
 * Page contract (macro diagram_panel in templates/_macros.html):
 *   <div class="bpmn-canvas" data-xml-url="/cases/12/diagram.bpmn"
 *        data-active='["dispatch"]' data-done='["report","dispatch"]'
 *        data-lanes='{"county_supervisor": "区县局监察人员", …}' data-error-text="流程图加载失败"></div>
 *   buttons with data-diagram-zoom="in|out|fit|current" in the same #diagram section.
 *
 *   data-active  BPMN ids currently open -> marker "bpmn-active" (and scrolled into view)
 *   data-done    BPMN ids already completed -> marker "bpmn-done"
 *   data-lanes   lane names are role keys in the BPMN: shown by their Chinese names
 * The diagram is fitted to its box when first drawn; the mouse wheel zooms about the pointer,
 * dragging pans. A canvas hidden on load (phones show a step list) is drawn when it becomes visible.
 */
(function () {
  'use strict';

  var BPMN_NS = 'http://www.omg.org/spec/BPMN/20100524/MODEL';

  function parseJson(value, fallback) {
    try { return value ? JSON.parse(value) : fallback; } catch (e) { return fallback; }
  }

  function idList(value) {
    var parsed = parseJson(value, []);
    return Array.isArray(parsed) ? parsed.filter(function (id) { return typeof id === 'string' && id; }) : [];
  }

  function showError(el, viewer) {
    if (viewer) { try { viewer.destroy(); } catch (e) { /* ignore */ } }
    var msg = document.createElement('div');
    msg.className = 'diagram-error';
    msg.textContent = el.getAttribute('data-error-text') || '流程图加载失败';
    while (el.firstChild) { el.removeChild(el.firstChild); }
    el.appendChild(msg);
  }

  /* Lane names in the BPMN are role keys (county_supervisor): show the roles' Chinese names. */
  function translateLanes(xml, labels) {
    if (!labels || typeof window.DOMParser !== 'function') { return xml; }
    var doc = new window.DOMParser().parseFromString(xml, 'application/xml');
    if (doc.getElementsByTagName('parsererror').length) { return xml; }
    var lanes = doc.getElementsByTagNameNS(BPMN_NS, 'lane');
    for (var i = 0; i < lanes.length; i++) {
      var key = lanes[i].getAttribute('name');
      if (key && labels[key]) { lanes[i].setAttribute('name', labels[key]); }
    }
    return new window.XMLSerializer().serializeToString(doc);
  }

  function applyMarkers(viewer, activeIds, doneIds) {
    var canvas = viewer.get('canvas');
    var registry = viewer.get('elementRegistry');
    var active = {};
    activeIds.forEach(function (id) {
      if (registry.get(id)) { canvas.addMarker(id, 'bpmn-active'); active[id] = true; }
    });
    doneIds.forEach(function (id) {
      if (!active[id] && registry.get(id)) { canvas.addMarker(id, 'bpmn-done'); }
    });
  }

  function currentElement(viewer, activeIds) {
    var registry = viewer.get('elementRegistry');
    for (var i = 0; i < activeIds.length; i++) {
      var el = registry.get(activeIds[i]);
      if (el) { return el; }
    }
    return null;
  }

  /* Fit the whole process; when that makes it too small to read, zoom to a legible scale
     centred on the current step instead. */
  function fit(viewer, activeIds, preferCurrent) {
    var canvas = viewer.get('canvas');
    canvas.zoom('fit-viewport', 'auto');
    var current = currentElement(viewer, activeIds);
    if (current && (preferCurrent || canvas.zoom() < 0.45)) {
      canvas.zoom(Math.max(canvas.zoom(), preferCurrent ? 0.9 : 0.6), {x: current.x + current.width / 2, y: current.y + current.height / 2});
      canvas.scrollToElement(current, {top: 80, bottom: 80, left: 120, right: 120});
    }
  }

  function zoomBy(viewer, factor, point) {
    var canvas = viewer.get('canvas');
    var scale = Math.min(3, Math.max(0.2, canvas.zoom() * factor));
    canvas.zoom(scale, point || 'auto');
  }

  function wire(el, viewer, activeIds) {
    el.addEventListener('wheel', function (ev) {
      ev.preventDefault();
      var box = el.getBoundingClientRect();
      var vb = viewer.get('canvas').viewbox();
      var point = {x: vb.x + (ev.clientX - box.left) / vb.scale, y: vb.y + (ev.clientY - box.top) / vb.scale};
      zoomBy(viewer, ev.deltaY < 0 ? 1.15 : 1 / 1.15, point);
    }, {passive: false});
    var section = el.closest('#diagram') || document;
    section.querySelectorAll('[data-diagram-zoom]').forEach(function (button) {
      button.addEventListener('click', function () {
        var what = button.getAttribute('data-diagram-zoom');
        if (what === 'in') { zoomBy(viewer, 1.25); }
        else if (what === 'out') { zoomBy(viewer, 0.8); }
        else if (what === 'fit') { viewer.get('canvas').zoom('fit-viewport', 'auto'); }
        else { fit(viewer, activeIds, true); }
      });
    });
  }

  function renderDiagram(el) {
    if (el.getAttribute('data-bpmn-initialised') || el.offsetParent === null) { return; }
    el.setAttribute('data-bpmn-initialised', '1');
    var url = el.getAttribute('data-xml-url');
    if (!url || typeof window.BpmnJS !== 'function' || typeof window.fetch !== 'function') {
      showError(el, null);
      return;
    }
    var activeIds = idList(el.getAttribute('data-active'));
    var doneIds = idList(el.getAttribute('data-done'));
    var labels = parseJson(el.getAttribute('data-lanes'), null);
    var viewer = null;
    window.fetch(url, {credentials: 'same-origin', headers: {'Accept': 'application/xml, text/xml, */*'}})
      .then(function (response) {
        if (!response.ok) { throw new Error('HTTP ' + response.status + ' while loading ' + url); }
        return response.text();
      }).then(function (xml) {
        viewer = new window.BpmnJS({container: el});
        return viewer.importXML(translateLanes(xml, labels));
      }).then(function () {
        applyMarkers(viewer, activeIds, doneIds);
        fit(viewer, activeIds, false);
        wire(el, viewer, activeIds);
        el.setAttribute('data-diagram-ready', '1');
      }).catch(function (err) {
        if (window.console && console.error) { console.error('case_diagram: failed to render BPMN diagram', err); }
        showError(el, viewer);
      });
  }

  function init() {
    document.querySelectorAll('.bpmn-canvas').forEach(renderDiagram);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
  window.addEventListener('resize', init);   // a canvas hidden on a narrow window is drawn once shown
})();
