/* Signature pad: draw with mouse, pen or finger on a canvas; the PNG goes into the hidden
   `signature` field when the form is submitted (empty when nothing was drawn). No inline script. */
(function () {
  'use strict';
  function setup(box) {
    var canvas = box.querySelector('canvas');
    var field = box.querySelector('input[name="signature"]');
    var ctx = canvas.getContext('2d');
    var drawing = false, inked = false, last = null;
    ctx.lineWidth = 2.5;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.strokeStyle = '#111';
    function point(ev) {
      var rect = canvas.getBoundingClientRect();
      return { x: (ev.clientX - rect.left) * canvas.width / rect.width,
               y: (ev.clientY - rect.top) * canvas.height / rect.height };
    }
    function start(ev) {
      ev.preventDefault();
      drawing = true;
      last = point(ev);
      if (canvas.setPointerCapture && ev.pointerId !== undefined) { canvas.setPointerCapture(ev.pointerId); }
    }
    function move(ev) {
      if (!drawing) { return; }
      ev.preventDefault();
      var p = point(ev);
      ctx.beginPath();
      ctx.moveTo(last.x, last.y);
      ctx.lineTo(p.x + 0.01, p.y + 0.01);
      ctx.stroke();
      last = p;
      inked = true;
    }
    function end() { drawing = false; }
    if (window.PointerEvent) {
      canvas.addEventListener('pointerdown', start);
      canvas.addEventListener('pointermove', move);
      canvas.addEventListener('pointerup', end);
      canvas.addEventListener('pointercancel', end);
      canvas.addEventListener('pointerleave', end);
    } else {
      canvas.addEventListener('mousedown', start);
      canvas.addEventListener('mousemove', move);
      window.addEventListener('mouseup', end);
      var touch = function (handler) {
        return function (ev) { if (ev.touches.length) { handler({ clientX: ev.touches[0].clientX, clientY: ev.touches[0].clientY,
          preventDefault: function () { ev.preventDefault(); } }); } else { end(); } };
      };
      canvas.addEventListener('touchstart', touch(start), { passive: false });
      canvas.addEventListener('touchmove', touch(move), { passive: false });
      canvas.addEventListener('touchend', end);
    }
    var clear = box.querySelector('[data-signature-clear]');
    if (clear) {
      clear.addEventListener('click', function () {
        ctx.clearRect(0, 0, canvas.width, canvas.height);
        inked = false;
        field.value = '';
      });
    }
    var form = box.closest('form');
    if (form) {
      form.addEventListener('submit', function () { field.value = inked ? canvas.toDataURL('image/png') : ''; }, true);
    }
  }
  document.querySelectorAll('[data-signature-pad]').forEach(setup);
}());
