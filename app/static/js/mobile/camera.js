/* Camera in the page (getUserMedia — never the gallery): open a stream into a <video>, take a JPEG frame,
   stop. Also the position helper (browser geolocation). window.GxCamera, window.GxPosition. */
(function () {
  'use strict';
  var streams = new WeakMap();
  window.GxCamera = {
    open: function (video, facing) {
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        return Promise.reject(new Error('此浏览器不支持在页面内拍照，请使用系统浏览器打开'));
      }
      GxCamera.stop(video);
      return navigator.mediaDevices.getUserMedia({ video: { facingMode: facing || 'environment', width: { ideal: 1600 } }, audio: false })
        .then(function (stream) {
          streams.set(video, stream);
          video.srcObject = stream;
          return video.play().catch(function () {}).then(function () { return stream; });
        });
    },
    ready: function (video) { return video.readyState >= 2 && video.videoWidth > 0; },
    capture: function (video, maxSide) {
      var w = video.videoWidth, h = video.videoHeight, max = maxSide || 1600;
      if (!w || !h) { return null; }
      var scale = Math.min(1, max / Math.max(w, h));
      var canvas = document.createElement('canvas');
      canvas.width = Math.round(w * scale); canvas.height = Math.round(h * scale);
      canvas.getContext('2d').drawImage(video, 0, 0, canvas.width, canvas.height);
      return canvas.toDataURL('image/jpeg', 0.85);
    },
    stop: function (video) {
      var stream = streams.get(video);
      if (stream) { stream.getTracks().forEach(function (t) { t.stop(); }); streams.delete(video); }
      if (video) { video.srcObject = null; }
    }
  };
  window.GxPosition = function () {
    return new Promise(function (resolve, reject) {
      if (!navigator.geolocation) { reject(new Error('此浏览器不支持定位')); return; }
      navigator.geolocation.getCurrentPosition(function (p) {
        resolve({ lat: p.coords.latitude, lng: p.coords.longitude, accuracy: p.coords.accuracy });
      }, function (err) {
        reject(new Error(err.code === 1 ? '未允许获取位置，请在浏览器设置中允许定位' : '获取定位失败，请到开阔处重试'));
      }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 0 });
    });
  };
}());
