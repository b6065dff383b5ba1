/* Public complaint page: after a code was sent, the "获取验证码" button counts down the seconds before
   another may be asked for (the server enforces the same interval). No inline script (CSP). */
(function () {
  'use strict';
  var button = document.querySelector('[data-testid=send-code][data-wait]');
  if (!button) { return; }
  var left = parseInt(button.getAttribute('data-wait'), 10) || 0;
  var label = button.textContent;
  function tick() {
    if (left <= 0) {
      button.disabled = false;
      button.textContent = label;
      return;
    }
    button.disabled = true;
    button.textContent = left + ' 秒后重新获取';
    left -= 1;
    window.setTimeout(tick, 1000);
  }
  tick();
}());
