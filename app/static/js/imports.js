// Import progress: poll the job until it is done or failed.
(function () {
  var box = document.querySelector('[data-testid="import-job"]');
  if (!box) return;
  var labels = {queued: '排队中', running: '导入中', done: '已完成', failed: '失败'};
  function tick() {
    fetch(box.dataset.statusUrl, {credentials: 'same-origin', headers: {'Accept': 'application/json'}})
      .then(function (r) { return r.json(); })
      .then(function (job) {
        var pct = job.total ? Math.floor(job.processed * 100 / job.total) : 0;
        box.querySelector('[data-progress]').style.width = pct + '%';
        box.querySelector('[data-status]').textContent = labels[job.status] || job.status;
        box.querySelector('[data-counts]').textContent = '已处理 ' + job.processed + ' / ' + job.total + ' 行';
        box.querySelector('[data-message]').textContent = job.message || '';
        box.querySelector('[data-report]').hidden = !job.has_error_report;
        if (job.status === 'queued' || job.status === 'running') setTimeout(tick, 1000);
      })
      .catch(function () { setTimeout(tick, 3000); });
  }
  tick();
})();
