/* Runs in <head>, before the first paint (an external file: the CSP forbids inline scripts).
   Marks phone-width screens (search panels start collapsed there) and restores the desktop
   side navigation's collapsed state, so neither flickers open and shut on load. */
(function () {
  'use strict';
  var root = document.documentElement;
  root.classList.add('js');
  if (window.matchMedia && window.matchMedia('(max-width: 767.98px)').matches) { root.classList.add('is-narrow'); }
  try {
    if (window.localStorage.getItem('gx.sidenav') === 'collapsed') { root.classList.add('sidenav-collapsed'); }
  } catch (e) { /* storage disabled: the navigation stays open */ }
})();
