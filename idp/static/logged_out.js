// Front-channel logout: go on to the service once every logout iframe has loaded (or after 5 s at most).
(function () {
  var link = document.getElementById("continue");
  if (!link) { return; }
  var frames = document.querySelectorAll("iframe.frontchannel");
  var pending = frames.length;
  var go = function () { window.location.assign(link.href); };
  if (pending === 0) { go(); return; }
  frames.forEach(function (frame) {
    frame.addEventListener("load", function () { pending -= 1; if (pending === 0) { go(); } });
  });
  window.setTimeout(go, 5000);
})();
