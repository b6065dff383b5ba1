/* Page behaviours shared by every page (no inline scripts: the CSP forbids them). */
(function () {
  'use strict';
  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    var message = form.getAttribute('data-confirm');
    if (message && !window.confirm(message)) { ev.preventDefault(); return; }
    var button = form.querySelector('button[type=submit]');
    if (button && !ev.defaultPrevented) {
      window.setTimeout(function () { button.disabled = true; button.textContent = '提交中…'; }, 0);
    }
  });
  document.addEventListener('change', function (ev) {
    if (ev.target.hasAttribute('data-autosubmit')) { ev.target.form.submit(); }
  });
  document.addEventListener('click', function (ev) {
    if (ev.target.hasAttribute('data-print')) { window.print(); }
  });
})();
