// The WebAuthn plumbing both passkey scripts use (signin.js for employees, console.js for
// administrators). The server sends options with binary fields in base64url; the browser API
// wants ArrayBuffers, and the answer goes back in base64url again.
(function () {
  "use strict";
  const b64u = {
    toBuf(s) {
      const b = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((s.length + 3) % 4));
      return Uint8Array.from(b, (c) => c.charCodeAt(0)).buffer;
    },
    fromBuf(buf) {
      let s = "";
      new Uint8Array(buf).forEach((b) => (s += String.fromCharCode(b)));
      return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    },
  };
  window.Passkeys = {
    // A JSON POST (with the CSRF token when given); a refusal throws the server's message, or
    // `refused` when it sent none.
    async post(url, body, csrf, refused) {
      const headers = { "Content-Type": "application/json" };
      if (csrf) headers["X-CSRF-Token"] = csrf;
      const r = await fetch(url, { method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin" });
      const data = await r.json().catch(() => ({}));
      if (!r.ok) throw new Error(data.message || refused || "The server refused the request.");
      return data;
    },
    // Asks the browser for an assertion with the server's request options (`mediation` and
    // `signal` for the autofill path); the credential in the server's JSON shape.
    async get(options, mediation, signal) {
      const pk = options.publicKey;
      pk.challenge = b64u.toBuf(pk.challenge);
      (pk.allowCredentials || []).forEach((c) => (c.id = b64u.toBuf(c.id)));
      const ask = { publicKey: pk };
      if (mediation) ask.mediation = mediation;
      if (signal) ask.signal = signal;
      const cred = await navigator.credentials.get(ask);
      const r = cred.response;
      return {
        id: cred.id,
        rawId: b64u.fromBuf(cred.rawId),
        type: cred.type,
        extensions: {},
        response: {
          authenticatorData: b64u.fromBuf(r.authenticatorData),
          clientDataJSON: b64u.fromBuf(r.clientDataJSON),
          signature: b64u.fromBuf(r.signature),
          userHandle: r.userHandle ? b64u.fromBuf(r.userHandle) : null,
        },
      };
    },
    // Asks the browser to create a passkey with the server's creation options; the credential in
    // the server's JSON shape.
    async create(options) {
      const pk = options.publicKey;
      pk.challenge = b64u.toBuf(pk.challenge);
      pk.user.id = b64u.toBuf(pk.user.id);
      (pk.excludeCredentials || []).forEach((c) => (c.id = b64u.toBuf(c.id)));
      const cred = await navigator.credentials.create({ publicKey: pk });
      const r = cred.response;
      return {
        id: cred.id,
        rawId: b64u.fromBuf(cred.rawId),
        type: cred.type,
        extensions: {},
        response: {
          attestationObject: b64u.fromBuf(r.attestationObject),
          clientDataJSON: b64u.fromBuf(r.clientDataJSON),
          transports: r.getTransports ? r.getTransports() : undefined,
        },
      };
    },
  };
})();
