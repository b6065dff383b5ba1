/* Page behaviours shared by every page (no inline scripts: the CSP forbids them). */
(function () {
  'use strict';
  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    // A form with several submit buttons (batch actions) may ask a different question per button.
    var message = (ev.submitter && ev.submitter.getAttribute('data-confirm')) || form.getAttribute('data-confirm');
    if (message && !window.confirm(message)) { ev.preventDefault(); return; }
    var button = form.querySelector('button[type=submit]');
    if (button && !ev.defaultPrevented) {
      window.setTimeout(function () { button.disabled = true; button.textContent = '提交中…'; }, 0);
    }
  });
  document.addEventListener('change', function (ev) {
    if (ev.target.hasAttribute('data-autosubmit')) { ev.target.form.submit(); }
    var group = ev.target.getAttribute('data-check-all');   // a "select all" box of a list
    if (group) {
      document.querySelectorAll('input[type=checkbox][name="' + group + '"]').forEach(function (box) {
        if (!box.disabled) { box.checked = ev.target.checked; }
      });
    }
  });
  document.addEventListener('click', function (ev) {
    if (ev.target.hasAttribute('data-print')) { window.print(); }
  });
})();
