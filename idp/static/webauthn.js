// Passkeys: a form marked data-webauthn="get" (log in) or "create" (register) holds the options
// from the provider in data-options. Its button asks the browser for the passkey and puts the answer,
// as JSON, in the form's hidden field "credential"; then the form is sent as any other.
// Without this script (or without WebAuthn in the browser) the button stays hidden and the page says why.
(function () {
  "use strict";

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var binary = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function withIds(list) {
    return (list || []).map(function (item) {
      return Object.assign({}, item, { id: toBytes(item.id) });
    });
  }

  function publicKey(kind, options) {
    var converted = Object.assign({}, options, { challenge: toBytes(options.challenge) });
    if (kind === "create") {
      converted.user = Object.assign({}, options.user, { id: toBytes(options.user.id) });
      converted.excludeCredentials = withIds(options.excludeCredentials);
    } else {
      converted.allowCredentials = withIds(options.allowCredentials);
    }
    return converted;
  }

  function answer(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (credential.authenticatorAttachment) json.authenticatorAttachment = credential.authenticatorAttachment;
    if (response.attestationObject) {
      json.response.attestationObject = toText(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toText(response.authenticatorData);
      json.response.signature = toText(response.signature);
      if (response.userHandle) json.response.userHandle = toText(response.userHandle);
    }
    return json;
  }

  document.querySelectorAll("form[data-webauthn]").forEach(function (form) {
    var kind = form.getAttribute("data-webauthn");
    var status = form.querySelector("[data-webauthn-status]");
    var button = form.querySelector("button[type=submit]");
    var withoutScript = form.querySelector("[data-webauthn-without]");
    if (!window.PublicKeyCredential || !navigator.credentials) {
      withoutScript.textContent = form.getAttribute("data-unsupported");
      return;
    }
    withoutScript.hidden = true;
    button.hidden = false;
    // Back to this page after the answer was sent: the button works again.
    window.addEventListener("pageshow", function () { button.disabled = false; });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      status.textContent = "";
      button.disabled = true;
      var options = { publicKey: publicKey(kind, JSON.parse(form.getAttribute("data-options"))) };
      var asked = kind === "create" ? navigator.credentials.create(options) : navigator.credentials.get(options);
      asked.then(function (credential) {
        form.elements.credential.value = JSON.stringify(answer(credential));
        form.submit();
      }).catch(function () {
        // Cancelled, timed out, or no passkey for this site on the device: the citizen may try again.
        button.disabled = false;
        status.textContent = form.getAttribute("data-failed");
      });
    });
  });
})();
