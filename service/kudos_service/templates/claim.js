// The claim page with a browser wallet (EIP-1193 window.ethereum): ask for the account, fetch the sign-in message
// (EIP-4361) from the claim API, have the wallet sign it (personal_sign), send it, then follow each kudos until it
// is in the wallet. Without a wallet this script does nothing, and the page's form works without it.
(() => {
  "use strict";

  const root = document.getElementById("claim");
  const panel = document.getElementById("wallet-claim");
  const button = document.getElementById("wallet-button");
  const status = document.getElementById("claim-status");
  const problem = document.getElementById("claim-error");
  if (!root || !panel || !button || !status || !problem || root.dataset.state !== "open") return;

  const api = "/v1/claims/" + encodeURIComponent(root.dataset.token || "");
  const POLL_MS = 1500;
  const WORDS = {
    on_its_way: "On its way",
    held: "Held for you",
    moving: "Moving…",
    in_wallet: "In your wallet",
    failed: "Could not be moved",
  };

  /** An API sentence ("this claim link has expired: ask…") as a sentence: capital first, full stop last. */
  const sentence = (text) => {
    const t = String(text || "").trim();
    if (!t) return "Something went wrong. Please try again.";
    return t[0].toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? "" : ".");
  };

  const say = (text) => {
    status.textContent = text;
  };

  const fail = (text) => {
    problem.textContent = text;
    problem.hidden = false;
  };

  const clear = () => {
    problem.textContent = "";
    problem.hidden = true;
  };

  class ApiProblem extends Error {}

  /** A call to the claim API: its JSON, or an ApiProblem with the API's own sentence. */
  const call = async (path, body) => {
    const options = { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      options.method = "POST";
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(api + path, options);
    } catch (_) {
      throw new ApiProblem("The service could not be reached. Check your connection and try again.");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (!response.ok) {
      const message = data && data.error && data.error.message;
      throw new ApiProblem(message ? sentence(message) : `The service answered ${response.status}. Please try again.`);
    }
    return data;
  };

  /** The UTF-8 bytes of text in hex, as personal_sign takes a message. */
  const hexOf = (text) =>
    "0x" + Array.from(new TextEncoder().encode(text), (b) => b.toString(16).padStart(2, "0")).join("");

  const show = (view) => {
    for (const kudos of view.kudos || []) {
      const card = document.querySelector(`[data-award-id="${CSS.escape(kudos.award_id)}"]`);
      const mark = card && card.querySelector(".status");
      if (!mark || mark.dataset.status === kudos.status) continue;
      mark.dataset.status = kudos.status;
      mark.className = `mark status status-${kudos.status}`;
      mark.textContent = WORDS[kudos.status] || kudos.status;
    }
  };

  const finish = (view) => {
    const done = document.getElementById("claim-done");
    const link = document.getElementById("wallet-link");
    const failed = (view.kudos || []).filter((k) => k.status === "failed").length;
    if (link) link.href = "/wallet/" + encodeURIComponent(view.wallet_address || "");
    const note = document.getElementById("claim-failed");
    if (note && failed) note.textContent = `${failed} of them could not be moved: the person who sent the link can help. `;
    say("The kudos are in your wallet.");
    if (done) {
      done.hidden = false;
      if (link) link.focus();
    }
  };

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  const follow = async (view) => {
    let errors = 0;
    while (!view.done) {
      await sleep(POLL_MS);
      try {
        view = await call("");
        errors = 0;
      } catch (error) {
        if (++errors >= 5) throw error;
        continue;
      }
      show(view);
    }
    finish(view);
  };

  const rejected = (error) => error && (error.code === 4001 || error.code === "ACTION_REJECTED");

  const claim = async (provider) => {
    clear();
    button.disabled = true;
    try {
      say("Asking your wallet for its account…");
      const accounts = await provider.request({ method: "eth_requestAccounts" });
      const address = Array.isArray(accounts) ? accounts[0] : undefined;
      if (typeof address !== "string") throw new ApiProblem("Your wallet did not give an account. Unlock it and try again.");
      say("Preparing the message to sign…");
      const { message } = await call("/message", { address });
      say("Please sign the message in your wallet.");
      const signature = await provider.request({ method: "personal_sign", params: [hexOf(message), address] });
      say("Claiming…");
      const view = await call("", { message, signature });
      document.getElementById("manual")?.setAttribute("hidden", "");
      panel.hidden = true;
      show(view);
      say("Claimed. Your kudos are moving to your wallet…");
      await follow(view);
    } catch (error) {
      say("");
      if (rejected(error)) {
        fail("You did not approve the request in your wallet, so nothing was claimed. You can try again whenever you like.");
      } else if (error instanceof ApiProblem) {
        fail(error.message);
      } else {
        fail(sentence(error && error.message ? `Your wallet answered: ${error.message}` : ""));
      }
      button.disabled = false;
    }
  };

  const start = () => {
    const provider = window.ethereum;
    if (!provider || typeof provider.request !== "function" || !panel.hidden) return false;
    panel.hidden = false;
    button.addEventListener("click", () => claim(provider));
    return true;
  };

  // A wallet may inject itself after the page's scripts ran: it then says so (MetaMask's "ethereum#initialized").
  if (!start()) window.addEventListener("ethereum#initialized", start, { once: true });
})();
