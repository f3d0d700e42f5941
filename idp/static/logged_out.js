// Front-channel logout: go on to the service once every logout iframe has loaded, or after the
// page's wait at most (a frame that never answers holds back the page's load, and with it the
// Refresh header that takes browsers without script on).
(function () {
  var link = document.getElementById("continue");
  var frames = document.querySelectorAll("iframe.frontchannel");
  if (!link || frames.length === 0) { return; }
  var pending = frames.length;
  var go = function () { window.location.assign(link.href); };
  frames.forEach(function (frame) {
    frame.addEventListener("load", function () { pending -= 1; if (pending === 0) { go(); } });
  });
  window.setTimeout(go, Number(link.dataset.waitSeconds) * 1000);
})();
