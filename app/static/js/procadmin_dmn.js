/*
 * procadmin_dmn.js - edit one DMN file of a draft with the vendored dmn-js Modeler (global `DmnJS`),
 * opened on its decision table. Page contract: <script type="application/json" id="pa-dmn-data">
 * with xml, editable, save_url. No eval, no inline code.
 */
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('pa-dmn-data').textContent);
  var csrf = document.querySelector('meta[name=csrf-token]').getAttribute('content');
  var msg = document.getElementById('pa-dmn-msg');
  var modeler = new window.DmnJS({container: '#pa-dmn'});

  function say(text, bad) { msg.textContent = text; msg.className = 'pa-msg small ' + (bad ? 'err-text' : 'ok-text'); }

  function renderIssues(issues) {
    var list = document.getElementById('pa-issues');
    list.textContent = '';
    if (!issues.length) {
      var ok = document.createElement('li');
      ok.className = 'pa-ok';
      ok.textContent = '校验通过，没有问题';
      list.appendChild(ok);
    }
    issues.forEach(function (i) {
      var li = document.createElement('li');
      li.textContent = '[' + i.file + '] ' + i.message;
      list.appendChild(li);
    });
  }

  modeler.importXML(data.xml).then(function () {
    var table = modeler.getViews().filter(function (v) { return v.type === 'decisionTable'; })[0];
    if (table) { return modeler.open(table); }
    return null;
  }).catch(function (err) { say('决策表无法显示：' + err.message, true); });

  var button = document.getElementById('pa-save-dmn');
  if (button) {
    button.addEventListener('click', function () {
      say('正在保存…');
      modeler.saveXML({format: true}).then(function (out) {
        return fetch(data.save_url, {
          method: 'POST', credentials: 'same-origin',
          headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf, 'Accept': 'application/json'},
          body: JSON.stringify({xml: out.xml})
        });
      }).then(function (resp) {
        return resp.json().then(function (json) {
          if (!resp.ok) { throw new Error((json.error && json.error.message) || ('请求失败 ' + resp.status)); }
          return json;
        });
      }).then(function (draft) {
        renderIssues(draft.issues);
        say(draft.issues.length ? '已保存为草稿；校验未通过（' + draft.issues.length + ' 项问题）' : '已保存，校验通过',
          draft.issues.length > 0);
      }).catch(function (err) { say('保存失败：' + err.message, true); });
    });
  }
})();
