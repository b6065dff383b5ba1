/* JSON-Schema forms: conditional fields (ui:showIf) and equipment search suggestions. */
(function () {
  'use strict';
  function currentValue(form, name) {
    var checked = form.querySelector('input[name="' + name + '"]:checked');
    if (checked) { return checked.value; }
    var el = form.querySelector('[name="' + name + '"]:not([type=radio])');
    return el ? el.value : '';
  }
  function applyShowIf(form) {
    form.querySelectorAll('[data-show-if-field]').forEach(function (field) {
      var visible = currentValue(form, field.getAttribute('data-show-if-field')) === field.getAttribute('data-show-if-equals');
      field.hidden = !visible;
    });
  }
  document.querySelectorAll('form').forEach(function (form) {
    if (!form.querySelector('[data-show-if-field]')) { return; }
    applyShowIf(form);
    form.addEventListener('change', function () { applyShowIf(form); });
  });
  /* "ui:filterBy": a select whose options carry an equipment class (data-group, the first digit of
     the 特种设备目录 code) offers only those of the class of the equipment code typed in another
     field; options without a class (通用) always stay. */
  document.querySelectorAll('select[data-depends-on]').forEach(function (select) {
    var form = select.form;
    var source = form && form.querySelector('[name="' + select.getAttribute('data-depends-on') + '"]');
    if (!source) { return; }
    function filter() {
      var group = (source.value || '').trim().charAt(0);
      Array.prototype.forEach.call(select.options, function (opt) {
        var own = opt.getAttribute('data-group');
        var off = !!(group && own && own !== group);
        opt.hidden = off;
        opt.disabled = off;
      });
      if (select.selectedOptions.length && select.selectedOptions[0].disabled) { select.value = ''; }
    }
    source.addEventListener('input', filter);
    source.addEventListener('change', filter);
    filter();
  });
  document.querySelectorAll('[data-equipment-search]').forEach(function (input) {
    var list = document.getElementById(input.getAttribute('list'));
    var timer = null;
    function load() {
      var url = input.getAttribute('data-equipment-search') + '?q=' + encodeURIComponent(input.value);
      fetch(url, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
        .then(function (r) { return r.ok ? r.json() : {items: []}; })
        .then(function (body) {
          list.innerHTML = '';
          body.items.forEach(function (item) {
            var opt = document.createElement('option');
            opt.value = item.code;
            opt.textContent = item.name + ' · ' + item.use_org;
            list.appendChild(opt);
          });
        })
        .catch(function () { /* suggestions are a convenience; typing the code still works */ });
    }
    input.addEventListener('input', function () { window.clearTimeout(timer); timer = window.setTimeout(load, 250); });
    input.addEventListener('focus', load);
  });
})();
