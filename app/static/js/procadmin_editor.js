/*
 * procadmin_editor.js - the process-admin draft editor: bpmn-js Modeler (vendored global `BpmnJS`)
 * with a small properties panel of our own, and the JSON Schema form editor with a live preview.
 *
 * Our custom properties live in <spiffworkflow:properties><spiffworkflow:property name value/>.
 * We register no moddle descriptor for that namespace, so bpmn-moddle keeps those elements as
 * generic ("any") elements and writes them back untouched (serviceTaskOperator etc. included);
 * we read and write them as generic elements too. No eval, no inline code (strict CSP).
 *
 * Page contract: <script type="application/json" id="pa-editor-data"> with draft_id, editable,
 * bpmn_xml, forms, issues, roles, services, urls {bpmn, form (with __KEY__), preview}.
 */
(function () {
  'use strict';

  var SPIFF_NS = 'http://spiffworkflow.org/bpmn/schema/1.0/core';
  var data = JSON.parse(document.getElementById('pa-editor-data').textContent);
  var csrf = document.querySelector('meta[name=csrf-token]').getAttribute('content');
  var dirty = false;

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'className') { node.className = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function postJSON(url, body, method) {
    return fetch(url, {
      method: method || 'POST', credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf, 'Accept': 'application/json'},
      body: JSON.stringify(body)
    }).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (json) {
        if (!resp.ok) {
          var err = (json && json.error) || {};
          var fields = err.fields ? Object.keys(err.fields).map(function (k) { return err.fields[k]; }).join('；') : '';
          throw new Error((err.message || ('请求失败 ' + resp.status)) + (fields ? '：' + fields : ''));
        }
        return json;
      });
    });
  }

  function setMsg(id, text, bad) {
    var node = $(id);
    if (!node) { return; }
    node.textContent = text;
    node.className = 'pa-msg small ' + (bad ? 'err-text' : 'ok-text');
  }

  function setDirty(value) {
    dirty = value;
    var flag = $('pa-dirty');
    if (flag) { flag.hidden = !value; }
  }

  // ------------------------------------------------------------------ modeler

  var modeler = new window.BpmnJS({container: '#pa-canvas'});
  var moddle = modeler.get('moddle');
  var modeling = modeler.get('modeling');
  var canvas = modeler.get('canvas');
  var registry = modeler.get('elementRegistry');
  var selection = modeler.get('selection');
  var eventBus = modeler.get('eventBus');
  var issueIds = [];

  function markIssues(issues) {
    issueIds.forEach(function (id) { if (registry.get(id)) { canvas.removeMarker(id, 'pa-issue'); } });
    issueIds = [];
    issues.forEach(function (i) {
      if (i.element && registry.get(i.element)) {
        canvas.addMarker(i.element, 'pa-issue');
        issueIds.push(i.element);
      }
    });
  }

  function renderIssues(issues, status) {
    var list = $('pa-issues');
    list.textContent = '';
    if (!issues.length) {
      list.appendChild(el('li', {className: 'pa-ok'}, status === 'unchecked' ? '尚未校验' : '校验通过，没有问题'));
    }
    issues.forEach(function (i) {
      var li = el('li', {'data-element': i.element || ''});
      li.appendChild(el('span', {className: 'tag tag-bad'}, i.file));
      li.appendChild(document.createTextNode(' ' + i.message));
      list.appendChild(li);
    });
    var tag = document.querySelector('[data-testid=draft-status]');
    if (tag && status) {
      tag.textContent = {unchecked: '未校验', valid: '校验通过', invalid: '校验未通过'}[status] || status;
      tag.className = 'tag pa-st-' + status;
    }
    markIssues(issues);
  }

  $('pa-issues').addEventListener('click', function (ev) {
    var li = ev.target.closest('li[data-element]');
    var id = li && li.getAttribute('data-element');
    var shape = id && registry.get(id);
    if (shape) {
      selection.select(shape);
      canvas.scrollToElement(shape);
      $('pa-canvas').scrollIntoView({behavior: 'smooth', block: 'center'});
    }
  });

  // --- spiffworkflow:properties as generic moddle elements

  function spiffContainer(bo, create) {
    var ext = bo.extensionElements;
    var values = ext ? (ext.get('values') || []) : [];
    var found = values.filter(function (v) { return v.$type === 'spiffworkflow:properties'; })[0];
    if (found || !create) { return found; }
    if (!ext) {
      ext = moddle.create('bpmn:ExtensionElements', {values: []});
      ext.$parent = bo;
      bo.extensionElements = ext;
    }
    found = moddle.createAny('spiffworkflow:properties', SPIFF_NS, {});
    found.$parent = ext;
    found.$children = [];
    ext.get('values').push(found);
    return found;
  }

  function getProp(bo, name) {
    var props = spiffContainer(bo, false);
    var hit = props && (props.$children || []).filter(function (p) { return p.name === name; })[0];
    return hit ? (hit.value || '') : '';
  }

  function setProp(bo, name, value) {
    value = (value || '').trim();
    var props = spiffContainer(bo, !!value);
    if (!props) { return; }
    props.$children = props.$children || [];
    var hit = props.$children.filter(function (p) { return p.name === name; })[0];
    if (!value) {
      if (hit) { props.$children.splice(props.$children.indexOf(hit), 1); }
    } else if (hit) {
      hit.value = value;
    } else {
      var prop = moddle.createAny('spiffworkflow:property', SPIFF_NS, {name: name, value: value});
      prop.$parent = props;
      props.$children.push(prop);
    }
    setDirty(true);
  }

  function serviceOperator(bo) {
    var ext = bo.extensionElements;
    var values = ext ? (ext.get('values') || []) : [];
    var op = values.filter(function (v) { return v.$type === 'spiffworkflow:serviceTaskOperator'; })[0];
    return op ? op.id : '';
  }

  // --- panel widgets

  var panel = $('pa-props');

  function row(label, input, help) {
    var wrap = el('div', {className: 'field'});
    var lab = el('label', {}, label);
    wrap.appendChild(lab);
    wrap.appendChild(input);
    if (help) { wrap.appendChild(el('div', {className: 'help'}, help)); }
    panel.appendChild(wrap);
    return input;
  }

  function textInput(name, value, onChange, placeholder) {
    var input = el('input', {'data-prop': name, type: 'text', placeholder: placeholder || ''});
    input.value = value || '';
    input.disabled = !data.editable;
    input.addEventListener('change', function () { onChange(input.value); });
    return input;
  }

  function selectInput(name, options, value, onChange) {
    var select = el('select', {'data-prop': name});
    var seen = false;
    options.forEach(function (o) {
      var opt = el('option', {value: o[0]}, o[1]);
      if (o[0] === value) { opt.selected = true; seen = true; }
      select.appendChild(opt);
    });
    if (!seen && value) {
      var extra = el('option', {value: value}, value + '（未知）');
      extra.selected = true;
      select.appendChild(extra);
    }
    select.disabled = !data.editable;
    select.addEventListener('change', function () { onChange(select.value); });
    return select;
  }

  function is(bo, type) { return bo && bo.$instanceOf && bo.$instanceOf(type); }

  function timerDefinition(bo) {
    return (bo.eventDefinitions || []).filter(function (d) { return is(d, 'bpmn:TimerEventDefinition'); })[0];
  }

  function renderPanel(element) {
    panel.textContent = '';
    if (!element) { element = canvas.getRootElement(); }
    if (element.labelTarget) { element = element.labelTarget; }   // a clicked label edits its element
    var bo = element && element.businessObject;
    if (!bo) {
      panel.appendChild(el('p', {className: 'muted'}, '点击图中的元素编辑其属性；点击空白处编辑流程属性。'));
      return;
    }
    var processBo = is(bo, 'bpmn:Participant') ? bo.processRef : (is(bo, 'bpmn:Process') ? bo : null);
    panel.appendChild(el('h3', {}, processBo ? '流程属性' : (bo.$type.replace('bpmn:', '') + ' 属性')));
    panel.appendChild(el('div', {className: 'muted small mono', 'data-testid': 'props-id'}, 'id: ' + (bo.id || '')));

    if (processBo) {
      row('流程名称', textInput('name', processBo.name, function (v) { processBo.name = v; setDirty(true); }));
      var forms = Object.keys(data.forms).sort().map(function (k) { return [k, k]; });
      row('发起表单 startForm', selectInput('startForm', [['', '（无）']].concat(forms), getProp(processBo, 'startForm'),
        function (v) { setProp(processBo, 'startForm', v); }));
      row('可发起的角色 startRoles', textInput('startRoles', getProp(processBo, 'startRoles'),
        function (v) { setProp(processBo, 'startRoles', v); }), '角色键，用逗号分隔');
      row('案件编号前缀 caseNoPrefix', textInput('caseNoPrefix', getProp(processBo, 'caseNoPrefix'),
        function (v) { setProp(processBo, 'caseNoPrefix', v); }));
      return;
    }

    if (is(bo, 'bpmn:Lane')) {
      var roles = [['', '（请选择角色）']].concat(data.roles.map(function (r) { return [r.key, r.label + '（' + r.key + '）']; }));
      row('泳道角色（名称即角色键）', selectInput('name', roles, bo.name || '', function (v) {
        modeling.updateProperties(element, {name: v});
      }));
      return;
    }

    row('名称', textInput('name', bo.name, function (v) { modeling.updateLabel(element, v); }));

    if (is(bo, 'bpmn:UserTask')) {
      var formOptions = [['', '（请选择表单）']].concat(Object.keys(data.forms).sort().map(function (k) {
        return [k, k + (data.forms[k].title ? '（' + data.forms[k].title + '）' : '')];
      }));
      row('表单 formKey', selectInput('formKey', formOptions, getProp(bo, 'formKey'),
        function (v) { setProp(bo, 'formKey', v); }));
      row('期限规则 dueIn', textInput('dueIn', getProp(bo, 'dueIn'), function (v) { setProp(bo, 'dueIn', v); },
        '"P10D" 或 rectify_deadline'), 'ISO 时长要加引号，如 "P10D"；或返回日期的表达式/变量；留空为不设期限');
      row('办理角色变量 candidateRole', textInput('candidateRole', getProp(bo, 'candidateRole'),
        function (v) { setProp(bo, 'candidateRole', v); }), '保存角色键的流程变量名，留空按泳道');
      row('办理单位变量 candidateOrg', textInput('candidateOrg', getProp(bo, 'candidateOrg'),
        function (v) { setProp(bo, 'candidateOrg', v); }), '企业泳道：保存单位 id 的变量名，默认 org_id');
      row('办理人变量 candidateUser', textInput('candidateUser', getProp(bo, 'candidateUser'),
        function (v) { setProp(bo, 'candidateUser', v); }), '个人泳道：保存用户 id 的变量名');
      row('层级 regionLevel', selectInput('regionLevel', [['', '（默认）'], ['county', '区县'], ['city', '设区市'],
        ['province', '自治区']], getProp(bo, 'regionLevel'), function (v) { setProp(bo, 'regionLevel', v); }),
        '仅科室/单位负责人（approver）泳道使用');
    }

    if (is(bo, 'bpmn:ServiceTask')) {
      panel.appendChild(el('p', {className: 'small'}, '服务函数：' + (serviceOperator(bo) || '（未设置）')));
      panel.appendChild(el('p', {className: 'muted small'}, '已注册的服务函数：' + data.services.join('、') +
        '。服务函数及其参数请在 BPMN 文件中编辑后上传。'));
    }

    if (is(bo, 'bpmn:ScriptTask')) {
      var area = el('textarea', {'data-prop': 'script', rows: '6', className: 'mono'});
      area.value = bo.script || '';
      area.disabled = !data.editable;
      area.addEventListener('change', function () {
        modeling.updateProperties(element, {scriptFormat: 'python', script: area.value});
      });
      row('脚本（受限 Python，禁止 import）', area);
    }

    if (is(bo, 'bpmn:SequenceFlow')) {
      var source = bo.sourceRef;
      if (is(source, 'bpmn:ExclusiveGateway') || is(source, 'bpmn:InclusiveGateway')) {
        var cond = bo.conditionExpression ? (bo.conditionExpression.body || '') : '';
        row('条件（Python 表达式）', textInput('condition', cond, function (v) {
          v = v.trim();
          modeling.updateProperties(element, {
            conditionExpression: v ? moddle.create('bpmn:FormalExpression', {body: v}) : undefined
          });
        }, 'verify_result == "pass"'));
        var box = el('input', {type: 'checkbox', 'data-prop': 'default'});
        box.checked = source.default === bo;
        box.disabled = !data.editable;
        box.addEventListener('change', function () {
          var gateway = registry.get(source.id);
          modeling.updateProperties(gateway, {'default': box.checked ? bo : undefined});
        });
        row('默认连线（没有条件成立时走这条）', box);
      }
    }

    var timer = timerDefinition(bo);
    if (timer) {
      var kind = timer.timeDuration ? 'timeDuration' : (timer.timeCycle ? 'timeCycle' : 'timeDate');
      var current = timer[kind] ? (timer[kind].body || '') : '';
      var kindSelect = row('定时器类型', selectInput('timerKind', [['timeDuration', '时长（timeDuration）'],
        ['timeDate', '时刻（timeDate）'], ['timeCycle', '循环（timeCycle）']], kind, function () { applyTimer(); }));
      var expr = row('定时器表达式', textInput('timerExpression', current, function () { applyTimer(); }, '"P3D"'),
        '固定时长/时刻必须加引号，如 "P3D"、"2026-12-31T00:00:00+08:00"；也可用 deadline_end(...)、escalation_at(...)');
      var applyTimer = function () {
        var props = {timeDuration: undefined, timeDate: undefined, timeCycle: undefined};
        props[kindSelect.value] = moddle.create('bpmn:FormalExpression', {body: expr.value.trim()});
        modeling.updateModdleProperties(element, timer, props);
      };
      if (is(bo, 'bpmn:BoundaryEvent')) {
        var interrupting = el('input', {type: 'checkbox', 'data-prop': 'cancelActivity'});
        interrupting.checked = bo.cancelActivity !== false;
        interrupting.disabled = !data.editable;
        interrupting.addEventListener('change', function () {
          modeling.updateProperties(element, {cancelActivity: interrupting.checked});
        });
        row('中断原环节（cancelActivity）', interrupting);
      }
    }
  }

  eventBus.on('selection.changed', function (e) { renderPanel(e.newSelection[0] || null); });
  eventBus.on('commandStack.changed', function () { setDirty(true); });

  modeler.importXML(data.bpmn_xml).then(function (result) {
    canvas.zoom('fit-viewport');
    setDirty(false);
    renderPanel(null);
    renderIssues(data.issues, null);
    if (result.warnings && result.warnings.length) {
      setMsg('pa-bpmn-msg', '导入时有 ' + result.warnings.length + ' 条提示：' +
        result.warnings.slice(0, 3).map(function (w) { return w.message; }).join('；'), true);
    }
  }).catch(function (err) {
    setMsg('pa-bpmn-msg', '流程图无法显示：' + err.message + '（可上传修正后的 BPMN 文件）', true);
    renderIssues(data.issues, null);
  });

  function saveBpmn() {
    setMsg('pa-bpmn-msg', '正在保存…');
    return modeler.saveXML({format: true}).then(function (out) {
      return postJSON(data.urls.bpmn, {xml: out.xml});
    }).then(function (draft) {
      setDirty(false);
      renderIssues(draft.issues, draft.status);
      setMsg('pa-bpmn-msg', draft.issues.length ? '已保存为草稿；校验未通过（' + draft.issues.length + ' 项问题）'
        : '已保存，校验通过', draft.issues.length > 0);
      return draft;
    }).catch(function (err) {
      setMsg('pa-bpmn-msg', '保存失败：' + err.message, true);
      throw err;
    });
  }

  var saveButton = $('pa-save-bpmn');
  if (saveButton) { saveButton.addEventListener('click', function () { saveBpmn().catch(function () {}); }); }

  // Validate / deploy act on the saved draft: save unsaved diagram edits first.
  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    if (!form.classList.contains('pa-needs-save') || ev.defaultPrevented || !dirty) { return; }
    ev.preventDefault();
    saveBpmn().then(function () { form.submit(); }).catch(function () {
      var button = form.querySelector('button[type=submit]');
      if (button) { window.setTimeout(function () { button.disabled = false; }, 50); }
    });
  });

  window.addEventListener('beforeunload', function (ev) {
    if (dirty) { ev.preventDefault(); ev.returnValue = ''; }
  });

  // ------------------------------------------------------------------ forms

  var formKey = null;
  var area = $('pa-form-json');
  var previewTimer = null;

  function formUrl(key) { return data.urls.form.replace('__KEY__', encodeURIComponent(key)); }

  function parseArea() {
    try {
      return {value: JSON.parse(area.value)};
    } catch (e) {
      return {error: 'JSON 格式错误：' + e.message};
    }
  }

  function renderTitles(schema) {
    var body = document.querySelector('#pa-field-titles tbody');
    body.textContent = '';
    var props = (schema && typeof schema === 'object' && schema.properties) || {};
    Object.keys(props).forEach(function (name) {
      var tr = el('tr');
      tr.appendChild(el('td', {className: 'mono'}, name));
      var td = el('td');
      var input = el('input', {'data-field-title': name, type: 'text', size: '28'});
      input.value = (props[name] && props[name].title) || '';
      input.disabled = !data.editable;
      input.addEventListener('input', function () {
        var parsed = parseArea();
        if (parsed.error) { return; }
        parsed.value.properties[name].title = input.value;
        area.value = JSON.stringify(parsed.value, null, 2);
        schedulePreview(false);
      });
      td.appendChild(input);
      tr.appendChild(td);
      body.appendChild(tr);
    });
  }

  function schedulePreview(rebuildTitles) {
    window.clearTimeout(previewTimer);
    previewTimer = window.setTimeout(function () { preview(rebuildTitles); }, 300);
  }

  function preview(rebuildTitles) {
    var parsed = parseArea();
    var errorBox = $('pa-form-error');
    if (parsed.error) { errorBox.textContent = parsed.error; return; }
    if (rebuildTitles) { renderTitles(parsed.value); }
    postJSON(data.urls.preview, {schema_text: area.value}).then(function (out) {
      $('pa-form-preview').innerHTML = out.html;   // rendered by our server from the same template as task pages
      errorBox.textContent = out.issues.map(function (i) { return i.message.replace('表单 preview', '本表单'); }).join('；');
    }).catch(function (err) { errorBox.textContent = err.message; });
  }

  function openForm(key) {
    formKey = key;
    $('pa-form-current').textContent = key;
    area.value = JSON.stringify(data.forms[key], null, 2);
    area.disabled = !data.editable;
    ['pa-save-form', 'pa-delete-form'].forEach(function (id) { if ($(id)) { $(id).disabled = false; } });
    setMsg('pa-form-msg', '');
    Array.prototype.forEach.call(document.querySelectorAll('[data-form-key]'), function (b) {
      b.classList.toggle('pa-current', b.getAttribute('data-form-key') === key);
    });
    preview(true);
  }

  function addFormToList(key) {
    var li = el('li');
    li.appendChild(el('button', {type: 'button', className: 'link', 'data-form-key': key}, key));
    $('pa-form-keys').appendChild(li);
  }

  $('pa-form-keys').addEventListener('click', function (ev) {
    var key = ev.target.getAttribute('data-form-key');
    if (key) { openForm(key); }
  });
  area.addEventListener('input', function () { schedulePreview(true); });

  if ($('pa-save-form')) {
    $('pa-save-form').addEventListener('click', function () {
      var parsed = parseArea();
      if (parsed.error) { setMsg('pa-form-msg', parsed.error, true); return; }
      setMsg('pa-form-msg', '正在保存…');
      postJSON(formUrl(formKey), {schema_text: area.value}).then(function (draft) {
        data.forms[formKey] = parsed.value;
        renderIssues(draft.issues, draft.status);
        setMsg('pa-form-msg', draft.issues.length ? '已保存为草稿；校验未通过（' + draft.issues.length + ' 项问题）'
          : '表单已保存，校验通过', draft.issues.length > 0);
      }).catch(function (err) { setMsg('pa-form-msg', '保存失败：' + err.message, true); });
    });
    $('pa-delete-form').addEventListener('click', function () {
      if (!formKey || !window.confirm('删除表单 ' + formKey + '？引用它的环节将无法通过校验。')) { return; }
      postJSON(formUrl(formKey), {}, 'DELETE').then(function (draft) {
        delete data.forms[formKey];
        var btn = document.querySelector('[data-form-key="' + formKey + '"]');
        if (btn) { btn.parentNode.remove(); }
        formKey = null;
        area.value = '';
        $('pa-form-preview').textContent = '';
        renderIssues(draft.issues, draft.status);
        setMsg('pa-form-msg', '已删除');
      }).catch(function (err) { setMsg('pa-form-msg', '删除失败：' + err.message, true); });
    });
    $('pa-new-form').addEventListener('click', function () {
      var key = $('pa-new-form-key').value.trim();
      if (!/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(key)) {
        setMsg('pa-form-msg', '表单键只能用字母、数字和下划线，以字母开头', true);
        return;
      }
      if (data.forms[key]) { openForm(key); return; }
      data.forms[key] = {title: '新表单', type: 'object', required: ['opinion'],
        properties: {opinion: {type: 'string', title: '意见', minLength: 2, maxLength: 1000, 'ui:widget': 'textarea'}}};
      addFormToList(key);
      openForm(key);
      setMsg('pa-form-msg', '新表单尚未保存，编辑后点击“保存表单”');
    });
  }
})();
