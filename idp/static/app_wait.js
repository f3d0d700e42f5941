// The app factor's waiting page: asks the provider every two seconds whether the app has answered,
// and when it has, sends the page's form (as the "I have approved" button does without JavaScript).
(function () {
  "use strict";
  var form = document.getElementById("app-form");
  if (!form || !window.fetch) {
    return;
  }
  var url = form.getAttribute("data-status");
  var status = document.getElementById("app-status");

  function ask() {
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : { status: "pending" };
      })
      .then(function (body) {
        if (body.status === "decided") {
          if (status) {
            status.textContent = form.getAttribute("data-answered");
          }
          form.submit();
        } else if (body.status === "pending") {
          window.setTimeout(ask, 2000);
        }
        // "none": this login no longer waits for the app; the page stays as it is.
      })
      .catch(function () {
        window.setTimeout(ask, 5000);
      });
  }

  window.setTimeout(ask, 2000);
})();
