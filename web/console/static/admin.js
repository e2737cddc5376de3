// An admin's pages: tenants (search, pages, create, delete), connected X accounts, and the
// audit log with its filters.

import { call } from "./api.js";
import { badge, confirmAction, errorBox, field, fill, form, h, pager, table, time } from "./ui.js";

const PAGE_SIZE = 20;

// ---------------------------------------------------------------- tenants

export function tenantsView(main, { session }) {
  let search = "";
  let page = 1;
  const listArea = h("div", { class: "list", "aria-live": "polite" });
  const searchForm = form("Search tenants", [
    field("Search by username, name or company", "search", { type: "search" }),
  ], "Search", async (values) => {
    search = values.search.trim();
    page = 1;
    await load();
  });
  searchForm.classList.add("inline");
  const createForm = form("Create a tenant", [
    field("Username (e-mail)", "username", { type: "email", required: true, autocomplete: "off" }),
    field("Password", "password", {
      type: "password", required: true, autocomplete: "new-password",
      hint: "8 characters or more, not a common or breached password, not the username.",
    }),
    field("Company", "company_name", { required: true, autocomplete: "organization" }),
    field("First name", "first_name", { autocomplete: "off" }),
    field("Last name", "last_name", { autocomplete: "off" }),
    field("Administrator", "is_admin", { type: "checkbox" }),
  ], "Create tenant", async (values, element) => {
    const created = await call("POST", "/auth/users/", { body: values });
    element.reset();
    search = created.username;
    page = 1;
    await load();
    status.textContent = `Created ${created.username}.`;
  });
  const status = h("p", { role: "status", class: "muted" });
  main.append(
    h("h1", {}, "Tenants"),
    searchForm, status, listArea,
    h("h2", {}, "Create a tenant"),
    createForm);

  async function load() {
    let answer;
    try {
      answer = await call("GET", "/auth/users/", { query: { search, page, page_size: PAGE_SIZE } });
    } catch (error) {
      fill(listArea, errorBox(error));
      throw error;
    }
    fill(listArea, 
      answer.results.length === 0
        ? h("p", { class: "empty" }, search ? `No user matches “${search}”.` : "No users.")
        : table("Tenants", ["Username", "Company", "Name", "Role", "Created", "Actions"], answer.results.map((user) => [
          user.username,
          user.company_name,
          [user.first_name, user.last_name].filter(Boolean).join(" ") || "—",
          user.is_admin ? "Admin" : "Tenant",
          time(user.created_at),
          user.id === session.user.id ? h("span", { class: "muted" }, "You") : h("button", {
            type: "button",
            class: "danger small",
            "aria-label": `Delete ${user.username}`,
            onclick: async () => {
              const sure = await confirmAction(
                `Delete ${user.username} (${user.company_name})? Their ServiceNow details, custom fields, API key and X connection are deleted too. This cannot be undone.`,
                "Delete tenant",
              );
              if (!sure) return;
              try {
                await call("DELETE", `/auth/users/${user.id}/`);
                status.textContent = `Deleted ${user.username}.`;
                await load();
              } catch (error) {
                listArea.prepend(errorBox(error));
              }
            },
          }, "Delete"),
        ])),
      pager(answer, page, PAGE_SIZE, (next) => { page = next; load(); }));
  }
  load().catch(() => {});
}

// ---------------------------------------------------------------- X accounts

export function xAccountsView(main) {
  let page = 1;
  const listArea = h("div", { class: "list" });
  main.append(
    h("h1", {}, "Connected X accounts"),
    h("p", { class: "lead" }, "Every tenant's X account, as X last answered for it."),
    listArea);
  async function load() {
    try {
      const answer = await call("GET", "/twitter-details/", { query: { page, page_size: PAGE_SIZE } });
      // Only this page's tenants: reading every tenant would cost a call per 20 of them.
      const ids = [...new Set(answer.results.map((account) => account.user))];
      const users = await Promise.all(ids.map((id) => call("GET", `/auth/users/${id}/`)));
      const byId = Object.fromEntries(users.map((user) => [user.id, user]));
      fill(listArea, 
        answer.results.length === 0
          ? h("p", { class: "empty" }, "No X account is connected.")
          : table("Connected X accounts", ["Account", "Tenant", "Status", "Auth", "Webhook API", "Connected"], answer.results.map((account) => [
            h("strong", {}, `@${account.screen_name}`),
            byId[account.user] ? `${byId[account.user].company_name} (${byId[account.user].username})` : account.user,
            [badge(account.status), account.status_detail ? h("span", { class: "detail" }, ` ${account.status_detail}`) : null],
            account.auth === "oauth2" ? "OAuth 2.0" : "OAuth 1.0a",
            account.webhook_api,
            time(account.connected_at),
          ])),
        pager(answer, page, PAGE_SIZE, (next) => { page = next; load(); }));
    } catch (error) {
      fill(listArea, errorBox(error));
    }
  }
  load();
}

// ---------------------------------------------------------------- audit log

const ACTIONS = [
  "user.created", "user.updated", "user.deleted", "user.password_set",
  "servicenow_details.created", "servicenow_details.updated", "servicenow_details.deleted",
  "custom_field.created", "custom_field.updated", "custom_field.deleted",
  "api_key.created",
  "x_connection.connected", "x_connection.revoked", "x_connection.broken", "x_connection.restored",
];

export function auditView(main) {
  let filters = {};
  let page = 1;
  const listArea = h("div", { class: "list" });
  const filterForm = form("Audit log filters", [
    h("div", { class: "grid" },
      field("User id (actor or tenant)", "user_id", { autocomplete: "off" }),
      field("Action", "action", { type: "select", choices: [["", "Any action"], ...ACTIONS.map((action) => [action, action])] }),
      field("From (UTC date)", "start_date", { type: "date" }),
      field("To (UTC date)", "end_date", { type: "date" })),
  ], "Filter", async (values) => {
    filters = values;
    page = 1;
    await load();
  });
  main.append(h("h1", {}, "Audit log"), h("p", { class: "lead" }, "Every change to users, ServiceNow details, custom fields, API keys and X connections, the newest first. Changed fields are named, never their values."), filterForm, listArea);
  async function load() {
    let answer;
    try {
      answer = await call("GET", "/audit/", { query: { ...filters, page, page_size: PAGE_SIZE } });
    } catch (error) {
      listArea.replaceChildren();
      throw error;
    }
    fill(listArea, 
      answer.results.length === 0
        ? h("p", { class: "empty" }, "No entry matches.")
        : table("Audit log", ["When", "Who", "Action", "Record", "Changed fields", "From"], answer.results.map((entry) => [
          time(entry.timestamp),
          entry.user,
          h("code", {}, entry.action),
          `${entry.resource_type} ${entry.resource_id}`,
          entry.changed_fields.join(", ") || "—",
          entry.ip_address || "—",
        ])),
      pager(answer, page, PAGE_SIZE, (next) => {
        page = next;
        load().catch((error) => fill(listArea, errorBox(error)));
      }));
  }
  load().catch((error) => fill(listArea, errorBox(error)));
}
