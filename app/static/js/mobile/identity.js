/* The identity check page (/m/identity): open the front camera in the page, take one frame into the form's
   hidden field, submit. Uses window.GxCamera (camera.js). */
(function () {
  'use strict';
  var box = document.querySelector('[data-identity]');
  if (!box) { return; }
  var video = box.querySelector('[data-face-video]'), preview = box.querySelector('[data-face-preview]');
  var input = box.querySelector('[data-face-input]'), error = box.querySelector('[data-identity-error]');
  function open() {
    preview.hidden = true; video.hidden = false;
    return GxCamera.open(video, 'user').catch(function (err) { error.textContent = '无法打开相机：' + err.message; });
  }
  box.querySelector('[data-face-open]').addEventListener('click', open);
  box.querySelector('[data-face-take]').addEventListener('click', function () {
    var shot = GxCamera.ready(video) ? GxCamera.capture(video, 800) : null;
    if (!shot) { error.textContent = '相机尚未就绪，请先打开相机'; return; }
    input.value = shot; preview.src = shot; preview.hidden = false; video.hidden = true; error.textContent = '';
    GxCamera.stop(video);
  });
  box.querySelector('[data-identity-form]').addEventListener('submit', function (event) {
    if (!input.value) { event.preventDefault(); error.textContent = '请先拍摄人脸照片'; }
  });
  open();
}());
