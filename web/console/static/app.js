// The console: log in, then a tenant's setup checklist and conversations, or an admin's
// tenants, X accounts, conversations and audit log. Pages are hash routes (#/setup), so the
// function serves one page and a reload keeps the place.

import { currentSession, logIn, logOut, whenSessionEnds } from "./api.js";
import { field, fill, form, h, time } from "./ui.js";
import { connectXView, setupView } from "./setup.js";
import { conversationsView, threadView } from "./conversations.js";
import { auditView, tenantsView, xAccountsView } from "./admin.js";

const ROUTES = [
  { pattern: /^#\/setup$/, view: setupView, title: "Setup" },
  { pattern: /^#\/connect-x\?(.*)$/, view: connectXView, title: "Connect X" },
  { pattern: /^#\/conversations$/, view: conversationsView, title: "Conversations" },
  { pattern: /^#\/conversations\/([\w-]+)$/, view: threadView, title: "Conversation" },
  { pattern: /^#\/admin\/tenants$/, view: tenantsView, title: "Tenants", admin: true },
  { pattern: /^#\/admin\/x-accounts$/, view: xAccountsView, title: "X accounts", admin: true },
  { pattern: /^#\/admin\/audit$/, view: auditView, title: "Audit log", admin: true },
];
const TENANT_NAV = [["#/setup", "Setup"], ["#/conversations", "Conversations"]];
const ADMIN_NAV = [
  ["#/admin/tenants", "Tenants"],
  ["#/admin/x-accounts", "X accounts"],
  ["#/conversations", "Conversations"],
  ["#/admin/audit", "Audit log"],
];

const main = document.getElementById("main");
let leaveView = null; // stops the current view's refreshing
let endedMessage = "";

whenSessionEnds((error) => {
  endedMessage = `${error.message} Log in again.`;
  render();
});
window.addEventListener("hashchange", () => render({ focus: true }));
render();

function render({ focus = false } = {}) {
  if (leaveView) leaveView();
  leaveView = null;
  const session = currentSession();
  renderHeader(session);
  main.replaceChildren();
  if (!session) {
    document.title = "Log in · Twittnow console";
    loginView(main);
    return;
  }
  const home = session.user.is_admin ? "#/admin/tenants" : "#/setup";
  const route = ROUTES.find((candidate) => candidate.pattern.test(location.hash));
  if (!route || (route.admin && !session.user.is_admin)) {
    location.replace(home);
    return;
  }
  document.title = `${route.title} · Twittnow console`;
  const match = location.hash.match(route.pattern);
  leaveView = route.view(main, { session, argument: match[1], rerender: render }) || null;
  if (focus) main.focus();
}

function renderHeader(session) {
  const nav = document.getElementById("nav");
  const sessionArea = document.getElementById("session");
  if (!session) {
    nav.replaceChildren();
    sessionArea.replaceChildren();
    return;
  }
  const links = session.user.is_admin ? ADMIN_NAV : TENANT_NAV;
  const current = location.hash.startsWith("#/conversations") ? "#/conversations" : location.hash;
  fill(nav, h("ul", {}, links.map(([href, label]) => h("li", {},
    h("a", { href, "aria-current": current === href ? "page" : null }, label)))));
  fill(sessionArea, 
    h("p", {}, h("span", { class: "who" }, session.user.username),
      h("span", { class: "expiry" }, "Session until ", time(session.expiry))),
    h("button", {
      type: "button",
      class: "secondary small",
      onclick: async () => {
        try {
          await logOut();
        } finally {
          endedMessage = "You are logged out.";
          render();
        }
      },
    }, "Log out"));
}

function loginView(container) {
  const pending = new URLSearchParams(location.hash.match(/^#\/connect-x\?(.*)$/)?.[1] || "");
  let countdown = null;
  const loginForm = form("Log in", [
    field("Username (e-mail)", "username", { type: "email", autocomplete: "username", required: true }),
    field("Password", "password", { type: "password", autocomplete: "current-password", required: true }),
  ], "Log in", async ({ username, password }, element) => {
    try {
      await logIn(username, password);
    } catch (error) {
      // The login throttle's wait: the button stays off until it is over.
      if (error.status === 429 && error.retryAfter) waitBeforeRetry(element, error.retryAfter);
      throw error;
    }
    endedMessage = "";
    render({ focus: true });
  });
  function waitBeforeRetry(element, seconds) {
    const button = element.querySelector("button[type=submit]");
    element.dataset.waiting = "1";
    button.disabled = true;
    let left = seconds;
    clearInterval(countdown);
    countdown = setInterval(() => {
      left -= 1;
      const retry = element.querySelector(".retry");
      if (retry) retry.textContent = left > 0 ? `Wait ${left} seconds, then try again.` : "You can try again now.";
      if (left <= 0) {
        clearInterval(countdown);
        delete element.dataset.waiting;
        button.disabled = false;
      }
    }, 1000);
  }
  fill(container,
    h("h1", {}, "Log in to Twittnow"),
    pending.get("confirmation")
      ? h("p", { class: "notice" }, `@${pending.get("screen_name")} will be connected to ${pending.get("company")} in Twittnow once you log in as that company's user and confirm. If you did not start this, close this page: nothing is connected.`)
      : null,
    endedMessage ? h("p", { class: "notice", role: "status" }, endedMessage) : null,
    loginForm,
    h("p", { class: "hint" }, "The session lasts until the token expires or you log out; it is kept for this browser tab only."),
    h("p", {}, h("a", { href: "../docs" }, "API documentation")));
  loginForm.querySelector("input").focus();
}
