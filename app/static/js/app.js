/* Page behaviours shared by every page (no inline scripts: the CSP forbids them).
   See docs/界面规范.md for the conventions these serve. */
(function () {
  'use strict';
  var narrow = window.matchMedia ? window.matchMedia('(max-width: 767.98px)') : {matches: false};

  /* A required field the person left empty: the form goes to the server without a question
     (the server answers with per-field errors and keeps what was typed); the confirmation is
     asked only of a form that looks complete. */
  function firstMissing(form) {
    var fields = form.querySelectorAll('.field');
    for (var i = 0; i < fields.length; i++) {
      var field = fields[i];
      if (field.closest('[hidden]') || !field.querySelector('.req') || field.offsetParent === null) { continue; }
      var inputs = field.querySelectorAll('input:not([type=hidden]), select, textarea');
      if (!inputs.length) { continue; }
      var filled = Array.prototype.some.call(inputs, function (el) {
        if (el.type === 'radio' || el.type === 'checkbox') { return el.checked; }
        if (el.type === 'file') { return el.files && el.files.length > 0 || !!field.querySelector('input[type=hidden][value]'); }
        return el.value.trim() !== '';
      });
      if (!filled) { return field; }
    }
    return null;
  }

  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    // A form with several submit buttons (batch actions) may ask a different question per button.
    var message = (ev.submitter && ev.submitter.getAttribute('data-confirm')) || form.getAttribute('data-confirm');
    if (ev.submitter && ev.submitter.hasAttribute('data-no-confirm')) { message = null; }   // 暂存 asks nothing
    if (message && !firstMissing(form) && !window.confirm(message)) { ev.preventDefault(); return; }
    if (form.hasAttribute('hx-get')) { return; }          // partial update: the page stays usable
    var button = ev.submitter || form.querySelector('button[type=submit]');
    if (button && !ev.defaultPrevented) {
      window.setTimeout(function () { button.disabled = true; button.textContent = '提交中…'; }, 0);
    }
  });
  document.addEventListener('change', function (ev) {
    if (ev.target.hasAttribute('data-autosubmit')) {
      var form = ev.target.form;
      if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    }
    var group = ev.target.getAttribute('data-check-all');   // a "select all" box of a list
    if (group) {
      document.querySelectorAll('input[type=checkbox][name="' + group + '"]').forEach(function (box) {
        if (!box.disabled) { box.checked = ev.target.checked; }
      });
    }
    var owner = ev.target.form || (ev.target.getAttribute('form') && document.getElementById(ev.target.getAttribute('form')));
    if (owner && owner.classList.contains('bulk')) {       // batch controls appear once something is ticked
      owner.classList.toggle('has-selection', !!document.querySelector('input[type=checkbox][form="' + owner.id + '"][name]:checked'));
    }
  });
  document.addEventListener('click', function (ev) {
    if (ev.target.closest('[data-print]')) { window.print(); }
    var toggle = ev.target.closest('[data-sidenav-collapse]');
    if (toggle) {
      var collapsed = document.documentElement.classList.toggle('sidenav-collapsed');
      toggle.setAttribute('aria-expanded', collapsed ? 'false' : 'true');
      try { window.localStorage.setItem('gx.sidenav', collapsed ? 'collapsed' : 'open'); } catch (e) { /* ignore */ }
    }
  });

  /* Lists: every table.grid becomes stacked cards below 768 px (css/app.css); each cell is
     labelled with its column's heading unless the template gave one (data-label). Wide tables
     scroll inside their own box, never the page. */
  function prepareTables(root) {
    root.querySelectorAll('table.grid').forEach(function (table) {
      if (!table.parentElement.classList.contains('table-responsive')) {
        var wrap = document.createElement('div');
        wrap.className = 'table-responsive';
        table.parentElement.insertBefore(wrap, table);
        wrap.appendChild(table);
      }
      var heads = Array.prototype.map.call(table.querySelectorAll('thead th'), function (th) {
        return th.getAttribute('data-label') || th.textContent.trim();
      });
      table.querySelectorAll('tbody tr').forEach(function (tr) {
        var col = 0;
        Array.prototype.forEach.call(tr.children, function (td) {
          if (!td.hasAttribute('data-label') && heads[col] && !td.classList.contains('empty')) {
            td.setAttribute('data-label', heads[col]);
          }
          col += td.colSpan || 1;
        });
      });
    });
  }

  /* Search panels start collapsed on phones (early.js marked the page before it was drawn). */
  function preparePanels(root) {
    root.querySelectorAll('.search-collapse[data-phone-collapsed]').forEach(function (el) {
      if (narrow.matches && !el.classList.contains('phone-ready')) { el.classList.remove('show'); }
      el.classList.add('phone-ready');
      var button = document.querySelector('[data-bs-target="#' + el.id + '"]');
      if (button) { button.setAttribute('aria-expanded', el.classList.contains('show') ? 'true' : 'false'); }
    });
  }

  function prepare(root) { prepareTables(root); preparePanels(root); }
  if (window.htmx) {
    window.htmx.onLoad(function (el) { prepare(el.nodeType === 1 ? el : document); });
  } else {
    prepare(document);
  }
  // The off-canvas menu closes when a link in it is followed (a phone's back button then shows the page).
  document.addEventListener('click', function (ev) {
    var link = ev.target.closest('#sidenav a.nav-link');
    if (link && window.bootstrap && narrow.matches) {
      var menu = window.bootstrap.Offcanvas.getInstance(document.getElementById('sidenav'));
      if (menu) { menu.hide(); }
    }
  });
})();
