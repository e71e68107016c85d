// Passkey ceremonies for the sign-in and account pages (the WebAuthn plumbing is webauthn.js,
// loaded before this file).
(function () {
  "use strict";
  // Messages in the page's language (the server puts them on <body>).
  const say = (k, fallback) => (document.body && document.body.dataset[k]) || fallback;
  function showError(msg) {
    const e = document.getElementById("passkey-error");
    if (e) { e.textContent = msg; e.hidden = false; }
  }
  const post = (url, body, csrf) =>
    window.Passkeys.post(url, body, csrf, say("refused", "The server refused the request."));
  // A passkey sign-in. `mediation` "conditional" is the autofill path: the browser offers the
  // passkeys it has for this site in the account field's suggestions and the promise settles
  // only when one is picked; without it the browser asks at once (this device, a security key,
  // or a phone nearby).
  async function passkeySignIn(request, mediation, signal) {
    const start = await post("/login/passkey/options", { request });
    const credential = await window.Passkeys.get(start.options, mediation, signal);
    const done = await post("/login/passkey", { ceremony: start.ceremony, request, credential });
    window.location.assign(done.redirect);
  }
  let autofill = null;
  async function offerPasskeysInAutofill() {
    const form = document.getElementById("signin-form");
    if (!form || !window.PublicKeyCredential) return;
    if (!PublicKeyCredential.isConditionalMediationAvailable) return;
    if (!(await PublicKeyCredential.isConditionalMediationAvailable())) return;
    autofill = new AbortController();
    passkeySignIn(form.dataset.request || "", "conditional", autofill.signal).catch((e) => {
      if (e && e.name !== "AbortError") showError(e.message || String(e));
    });
  }
  function signIn(button) {
    // One WebAuthn request at a time: the explicit one replaces the autofill one.
    if (autofill) { autofill.abort(); autofill = null; }
    return passkeySignIn(button.dataset.request || "");
  }
  async function register(button, base) {
    const csrf = button.dataset.csrf;
    base = base || "/account/passkeys";
    const start = await post(base + "/options", {}, csrf);
    const credential = await window.Passkeys.create(start.options);
    const nameInput = document.getElementById("passkey-name");
    await post(base, {
      ceremony: start.ceremony,
      name: nameInput ? nameInput.value : null,
      credential,
    }, csrf);
    if (base === "/account/passkeys") window.location.reload();
  }
  function watchInvitation() {
    const box = document.getElementById("invitation");
    if (!box) return;
    const token = box.dataset.token;
    const timer = setInterval(async () => {
      const r = await fetch("/invite/" + encodeURIComponent(token) + "/status", { credentials: "same-origin" });
      const s = await r.json().catch(() => ({}));
      if (s.state === "accepted") {
        document.getElementById("done").hidden = false;
        clearInterval(timer);
      }
    }, 2000);
    const b = document.getElementById("invite-passkey");
    if (b) {
      b.addEventListener("click", () => {
        b.disabled = true;
        register(b, "/invite/" + encodeURIComponent(token) + "/passkey")
          .then(() => (document.getElementById("done").hidden = false))
          .catch((e) => showError(e.message || String(e)))
          .finally(() => (b.disabled = false));
      });
    }
  }
  function wire(id, fn) {
    const b = document.getElementById(id);
    if (!b) return;
    b.addEventListener("click", () => {
      b.disabled = true;
      fn(b).catch((e) => showError(e.message || String(e))).finally(() => (b.disabled = false));
    });
  }
  async function push(request, username) {
    const start = await post("/login/push", { request, username });
    document.getElementById("push-number-value").textContent = String(start.number);
    document.getElementById("push-number").hidden = false;
    const until = Date.now() + start.expires_in * 1000 + 2000;
    while (Date.now() < until) {
      // A long poll: the server answers as soon as the phone does (or after 20 s).
      const s = await post("/login/push/status", { challenge: start.challenge, request, wait: 20 });
      if (s.state === "approved") { window.location.assign(s.redirect); return; }
      if (s.state === "denied") throw new Error(say("denied", "The request was denied on the phone."));
      if (s.state === "expired") break;
    }
    throw new Error(say("noAnswer", "No answer from the phone. Try again, or use another way to sign in."));
  }
  // The sign-in form: the phone button (or Enter with only the account typed) sends the phone
  // request from here; a code or a password goes to the server as a plain form post.
  function wireSigninForm() {
    const form = document.getElementById("signin-form");
    if (!form) return;
    const b = document.getElementById("push-button");
    form.addEventListener("submit", (ev) => {
      const by = ev.submitter ? ev.submitter.value : "phone";
      const code = document.getElementById("code").value.trim();
      const password = document.getElementById("password").value;
      if (by !== "phone" || code || password) return;
      ev.preventDefault();
      b.disabled = true;
      const e = document.getElementById("push-error");
      e.hidden = true;
      push(form.dataset.request || "", document.getElementById("username").value)
        .catch((err) => { e.textContent = err.message || String(err); e.hidden = false; })
        .finally(() => (b.disabled = false));
    });
  }
  // The account page's step-up: an `enrol` confirmation on the registered phone.
  async function confirmOnPhone(button) {
    const csrf = button.dataset.csrf;
    const start = await post("/account/confirm", {}, csrf);
    document.getElementById("confirm-number-value").textContent = String(start.number);
    document.getElementById("confirm-number").hidden = false;
    const until = Date.now() + start.expires_in * 1000 + 2000;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, 1000));
      const s = await post("/account/confirm/status", { challenge: start.challenge }, csrf);
      if (s.state === "approved") { window.location.reload(); return; }
      if (s.state === "denied") throw new Error(say("denied", "The request was denied on the phone."));
      if (s.state === "expired") break;
    }
    throw new Error(say("noAnswer", "No answer from the phone. Try again."));
  }
  function wireConfirm(id) {
    const b = document.getElementById(id);
    if (!b) return;
    b.addEventListener("click", () => {
      b.disabled = true;
      const e = document.getElementById("confirm-error");
      e.hidden = true;
      confirmOnPhone(b).catch((err) => { e.textContent = err.message || String(err); e.hidden = false; })
        .finally(() => (b.disabled = false));
    });
  }
  wireConfirm("confirm-phone");
  wire("passkey-button", signIn);
  wire("add-passkey", register);
  wireSigninForm();
  offerPasskeysInAutofill();
  watchInvitation();
})();
