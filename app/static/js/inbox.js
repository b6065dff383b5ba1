/* Inbox: refresh the tab badges (and the header 待办 badge) from /api/v1/inbox/counts every 60 s
   and when the tab becomes visible again, without reloading the page. */
(function () {
  'use strict';
  var tabs = document.querySelector('[data-counts-url]');
  var url = tabs ? tabs.getAttribute('data-counts-url') : '/api/v1/inbox/counts';
  function refresh() {
    if (!window.fetch) { return; }
    fetch(url, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (counts) {
        if (!counts) { return; }
        document.querySelectorAll('[data-count]').forEach(function (el) {
          var key = el.getAttribute('data-count');
          if (Object.prototype.hasOwnProperty.call(counts, key)) { el.textContent = counts[key]; }
        });
        var badge = document.querySelector('[data-testid=todo-count]');
        if (badge && typeof counts.todo === 'number') { badge.textContent = counts.todo; }
      })
      .catch(function () { /* offline: keep the last figures */ });
  }
  refresh();   // on the bulk result page: the figures after the bulk action
  window.setInterval(refresh, 60000);
  document.addEventListener('visibilitychange', function () { if (!document.hidden) { refresh(); } });
})();
