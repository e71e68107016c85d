// The console's only script: live progress of sync runs (the page works without it by
// refreshing itself), selecting a shown-once secret on focus, reading a chosen CSV file into
// its textarea, showing the fields of a domain's kind, and confirming destructive key actions.
"use strict";

(function () {
  const PHASES = {
    connecting: () => "Connecting to the domain controller…",
    reading: (n) => `Reading the sync group: ${n} accounts read…`,
    planning: (n) => `Comparing ${n} accounts with the employee list…`,
    applying: () => "Saving the changes…",
    done: () => "Finishing…",
  };
  const STATES = {
    running: "Running",
    succeeded: "Succeeded",
    failed: "Failed",
    refused: "Refused by the removal guard",
  };

  async function poll(box) {
    const cards = Array.from(box.querySelectorAll("[data-run]"));
    let running = 0;
    for (const card of cards) {
      if (card.dataset.state !== "running") continue;
      let run;
      try {
        const r = await fetch(`/api/v1/directory/runs/${card.dataset.run}`, {
          credentials: "same-origin",
          headers: { Accept: "application/json" },
        });
        if (!r.ok) { running++; continue; }
        run = await r.json();
      } catch (e) {
        running++;
        continue;
      }
      card.dataset.state = run.state;
      card.querySelector(".run-state").textContent = STATES[run.state] || run.state;
      for (const [k, v] of Object.entries(run.counts || {})) {
        const dd = card.querySelector(`[data-count="${k}"]`);
        if (dd) dd.textContent = String(v);
      }
      const p = card.querySelector(".run-progress");
      if (run.state === "running") {
        running++;
        if (run.progress && PHASES[run.progress.phase]) {
          p.textContent = PHASES[run.progress.phase](run.progress.read);
        }
      } else {
        p.textContent = "";
      }
    }
    if (running > 0) {
      setTimeout(() => poll(box), 1000);
    } else {
      // Every run finished: show the server's finished page (report links, totals).
      window.location.reload();
    }
  }

  const box = document.querySelector("[data-poll]");
  if (box) setTimeout(() => poll(box), 1000);

  for (const el of document.querySelectorAll("input.copy")) {
    el.addEventListener("focus", () => el.select());
  }

  // A file chosen beside a textarea (CSV of keys) is read into it; the form posts as usual.
  for (const input of document.querySelectorAll("input[type=file][data-fill]")) {
    input.addEventListener("change", async () => {
      const target = document.getElementById(input.dataset.fill);
      const file = input.files && input.files[0];
      if (target && file) target.value = await file.text();
    });
  }

  // A form with a kind selector (a domain: on-premises AD or Entra ID) shows only the fields
  // of the chosen kind.
  for (const sel of document.querySelectorAll("select[data-kind-switch]")) {
    const form = sel.form;
    const apply = () => {
      for (const f of form.querySelectorAll("[data-only-for]")) {
        f.hidden = f.dataset.onlyFor !== sel.value;
      }
    };
    sel.addEventListener("change", apply);
    apply();
  }

  // Buttons that need a second thought (withdrawing or wiping a key) ask first.
  for (const b of document.querySelectorAll("button[data-confirm]")) {
    b.addEventListener("click", (ev) => {
      if (!window.confirm(b.dataset.confirm)) ev.preventDefault();
    });
  }
})();

// Administrators' passkeys: sign-in on the sign-in page, and adding one on "Your passkeys" (the
// WebAuthn plumbing is /login/webauthn.js, loaded before this file).
(function () {
  function showError(msg) {
    const e = document.getElementById("passkey-error");
    if (e) { e.textContent = msg; e.hidden = false; }
  }
  const post = (url, body, csrf) => window.Passkeys.post(url, body, csrf);
  async function signIn() {
    const start = await post("/api/v1/session/passkey/options", {});
    const credential = await window.Passkeys.get(start.options);
    await post("/api/v1/session/passkey", { ceremony: start.ceremony, credential });
    window.location.assign("/admin");
  }
  async function add(button) {
    const csrf = button.dataset.csrf;
    const start = await post("/api/v1/session/passkeys/options", {}, csrf);
    const credential = await window.Passkeys.create(start.options);
    const name = document.getElementById("passkey-name");
    await post("/api/v1/session/passkeys", {
      ceremony: start.ceremony,
      name: name ? name.value : null,
      credential,
    }, csrf);
    window.location.reload();
  }
  function wire(id, fn) {
    const b = document.getElementById(id);
    if (!b) return;
    if (!window.PublicKeyCredential) { b.hidden = true; return; }
    b.addEventListener("click", () => {
      b.disabled = true;
      fn(b).catch((e) => showError(e.message || String(e))).finally(() => (b.disabled = false));
    });
  }
  wire("passkey-signin", signIn);
  wire("add-passkey", add);
})();
