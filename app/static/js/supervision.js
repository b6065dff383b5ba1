/* 监督检查 step guide: choosing a checklist type loads its items in place (no page reload), ready to be
   filled and saved with the section. The page works without this script (the section is added, then filled). */
(function () {
  'use strict';
  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) { node.textContent = text; }
    return node;
  }
  function render(box, template) {
    box.textContent = '';
    if (!template.items.length) {
      box.appendChild(el('div', {'class': 'alert alert-warning py-2 mt-2'}, '该检查项目表尚无检查项目（参考资料未收录），请先由管理员录入。'));
      return;
    }
    box.appendChild(el('div', {'class': 'small text-body-secondary mt-2'}, template.name + '（第' + template.version + '版，共' + template.items.length + '项）'));
    var list = el('ol', {'class': 'list-unstyled mb-0'});
    template.items.forEach(function (item) {
      var li = el('li', {'class': 'border-top py-2', 'data-testid': 'sv-item'});
      var head = el('div');
      head.appendChild(el('b', {}, item.seq + '. '));
      head.appendChild(document.createTextNode(item.text));
      li.appendChild(head);
      li.appendChild(el('div', {'class': 'small text-body-secondary'}, '依据：' + (item.basis || '（参考资料未收录，待补充）')));
      var opts = el('div', {'class': 'd-flex flex-wrap gap-3 my-1'});
      item.options.forEach(function (o) {
        var label = el('label', {'class': 'form-check'});
        label.appendChild(el('input', {'class': 'form-check-input', type: 'radio', name: 'result_' + item.id, value: o}));
        label.appendChild(document.createTextNode(' ' + o));
        opts.appendChild(label);
      });
      li.appendChild(opts);
      li.appendChild(el('textarea', {'class': 'form-control form-control-sm mb-1', name: 'note_' + item.id, rows: '1',
        placeholder: '问题说明' + (item.note_rule === 'on_problem' ? '（不符合时必填）' : ''), 'aria-label': '问题说明'}));
      li.appendChild(el('input', {'class': 'form-control form-control-sm', type: 'file', name: 'photo_' + item.id,
        accept: 'image/jpeg,image/png', multiple: 'multiple', 'aria-label': '现场照片'}));
      list.appendChild(li);
    });
    box.appendChild(list);
  }
  document.querySelectorAll('form[data-sv-loader]').forEach(function (form) {
    var select = form.querySelector('[data-sv-template]');
    var box = form.querySelector('[data-sv-items]');
    if (!select || !box) { return; }
    select.addEventListener('change', function () {
      box.textContent = '';
      if (!select.value) { return; }
      box.appendChild(el('div', {'class': 'text-body-secondary small mt-2'}, '正在加载检查项目…'));
      fetch('/api/v1/supervision/templates/' + encodeURIComponent(select.value),
            {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
        .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
        .then(function (t) { render(box, t); })
        .catch(function () { box.textContent = '检查项目加载失败，请直接点击“加入检查”后在页面中填写。'; });
    });
  });
})();
