/*
 * case_diagram.js - render a BPMN diagram read-only and highlight case progress.
 *
 * Requires the vendored bpmn-js NavigatedViewer (global `BpmnJS`), loaded before
 * this file. Plain browser JS: no modules, no build step, no eval/inline code,
 * so it works under a strict Content-Security-Policy.
 *
 * Page contract:
 *   <div class="bpmn-canvas" data-xml-url="/cases/12/diagram.bpmn"
 *        data-active='["dispatch"]' data-done='["report","dispatch"]'
 *        data-error-text="流程图加载失败"></div>
 *
 *   data-active  JSON array of BPMN element ids that are currently open -> marker "bpmn-active"
 *   data-done    JSON array of BPMN element ids already completed    -> marker "bpmn-done"
 *                (an id that is also active only gets "bpmn-active")
 *   ids not present in the diagram are ignored.
 */
(function () {
  'use strict';

  var DEFAULT_ERROR_TEXT = 'Diagram could not be loaded';

  function parseIdList(value) {
    if (!value) {
      return [];
    }
    try {
      var parsed = JSON.parse(value);
      if (!Array.isArray(parsed)) {
        return [];
      }
      return parsed.filter(function (id) {
        return typeof id === 'string' && id.length > 0;
      });
    } catch (e) {
      return [];
    }
  }

  function showError(el, viewer) {
    if (viewer) {
      try {
        viewer.destroy();
      } catch (e) { /* ignore */ }
    }
    var msg = document.createElement('div');
    msg.className = 'diagram-error';
    msg.textContent = el.getAttribute('data-error-text') || DEFAULT_ERROR_TEXT;
    while (el.firstChild) {
      el.removeChild(el.firstChild);
    }
    el.appendChild(msg);
  }

  function applyMarkers(viewer, activeIds, doneIds) {
    var canvas = viewer.get('canvas');
    var registry = viewer.get('elementRegistry');
    var active = {};

    activeIds.forEach(function (id) {
      if (registry.get(id)) {
        canvas.addMarker(id, 'bpmn-active');
        active[id] = true;
      }
    });
    doneIds.forEach(function (id) {
      if (!active[id] && registry.get(id)) {
        canvas.addMarker(id, 'bpmn-done');
      }
    });
  }

  function renderDiagram(el) {
    if (el.getAttribute('data-bpmn-initialised')) {
      return;
    }
    el.setAttribute('data-bpmn-initialised', '1');

    var url = el.getAttribute('data-xml-url');
    if (!url || typeof window.BpmnJS !== 'function' || typeof window.fetch !== 'function') {
      showError(el, null);
      return;
    }

    var activeIds = parseIdList(el.getAttribute('data-active'));
    var doneIds = parseIdList(el.getAttribute('data-done'));
    var viewer = null;

    window.fetch(url, {
      credentials: 'same-origin',
      headers: { 'Accept': 'application/xml, text/xml, */*' }
    }).then(function (response) {
      if (!response.ok) {
        throw new Error('HTTP ' + response.status + ' while loading ' + url);
      }
      return response.text();
    }).then(function (xml) {
      viewer = new window.BpmnJS({ container: el });
      return viewer.importXML(xml);
    }).then(function () {
      viewer.get('canvas').zoom('fit-viewport');
      applyMarkers(viewer, activeIds, doneIds);
    }).catch(function (err) {
      if (window.console && console.error) {
        console.error('case_diagram: failed to render BPMN diagram', err);
      }
      showError(el, viewer);
    });
  }

  function init() {
    var els = document.querySelectorAll('.bpmn-canvas');
    for (var i = 0; i < els.length; i++) {
      renderDiagram(els[i]);
    }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
