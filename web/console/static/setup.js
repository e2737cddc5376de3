// A tenant's onboarding checklist: ServiceNow details (verified), the X account, custom
// fields, the developer API key and the update set, each step with its live state.

import { apiBase, call } from "./api.js";
import {
  badge, clearErrors, confirmAction, copyButton, errorBox, field, fill, form, h, showError, time,
} from "./ui.js";

// The key generated in this visit, for the update set's property (it is shown only once).
let generatedKey = "";

function step(number, title) {
  const headingId = `step-${number}`;
  const state = h("span", { class: "state" });
  const body = h("div", { class: "step-body" });
  const root = h("li", { class: "step" }, h("section", { "aria-labelledby": headingId },
    h("h2", { id: headingId }, h("span", { class: "number", "aria-hidden": "true" }, `${number}`), title, " ", state),
    body));
  return {
    root,
    body,
    setState(status, label) {
      fill(state, badge(status, label));
    },
  };
}

export function setupView(main, { session }) {
  const company = session.user.company_name || session.user.username;
  const servicenow = step(1, "ServiceNow instance");
  const x = step(2, "X account");
  const fields = step(3, "Custom fields");
  const key = step(4, "Developer API key");
  const updateSet = step(5, "ServiceNow update set");
  main.append(
    h("h1", {}, `Set up ${company}`),
    h("p", { class: "lead" }, "Connect your ServiceNow instance and your X account: customers' messages on X then become cases, and your agents' replies go back to them on X."),
    h("ol", { class: "checklist" }, servicenow.root, x.root, fields.root, key.root, updateSet.root));
  // An admin lists every tenant's records: the checklist is about the caller's own.
  const context = { details: null, userId: session.user.id };
  const refreshUpdateSet = () => renderUpdateSet(updateSet, context);
  loadServiceNow(servicenow, context, refreshUpdateSet);
  loadX(x, session.user.id);
  loadFields(fields);
  renderKey(key, refreshUpdateSet);
  refreshUpdateSet();
}

// ---------------------------------------------------------------- 1. ServiceNow

async function loadServiceNow(s, context, changed) {
  try {
    const answer = await call("GET", "/servicenow-details/", { query: { page_size: 200 } });
    context.details = answer.results.find((record) => record.user === context.userId) || null;
  } catch (error) {
    fill(s.body, errorBox(error));
    return;
  }
  renderServiceNow(s, context, changed);
  changed();
}

const SERVICENOW_STATES = {
  ok: "Verified",
  unverified: "Saved, not verified",
  bad_credentials: "Wrong credentials",
  missing_role: "Missing role",
  unreachable: "Unreachable",
};

function renderServiceNow(s, context, changed) {
  const details = context.details;
  if (!details) s.setState("todo", "To do");
  else s.setState(details.status, SERVICENOW_STATES[details.status] || details.status);
  const outcome = h("div", { class: "outcome", role: "status" });
  if (details && details.status_checked_at) {
    outcome.append(h("p", {}, badge(details.status, SERVICENOW_STATES[details.status]), " ",
      details.status_detail, " (checked ", time(details.status_checked_at), ")"));
  }
  const detailsForm = form("ServiceNow details", [
    field("Instance URL", "instance_url", {
      type: "url", value: details?.instance_url || "", required: true,
      placeholder: "https://yourcompany.service-now.com", autocomplete: "url",
    }),
    field("Integration user", "admin_user", {
      value: details?.admin_user || "", required: true, autocomplete: "off",
      hint: "A ServiceNow user with the csm_ws_integration role: Twittnow signs in as this user.",
    }),
    field("Password", "admin_password", {
      type: "password", autocomplete: "new-password", required: !details,
      hint: details
        ? "Stored encrypted and never shown. Leave empty to keep the stored one; required when the URL or user changes."
        : "Stored encrypted (AWS Secrets Manager) and never shown back.",
    }),
  ], details ? "Save changes" : "Save", async (values, element) => {
    if (!details) {
      context.details = await call("POST", "/servicenow-details/", { body: values });
    } else {
      const changes = {};
      for (const name of ["instance_url", "admin_user"]) {
        if (values[name] !== details[name]) changes[name] = values[name];
      }
      if (values.admin_password) changes.admin_password = values.admin_password;
      if (Object.keys(changes).length === 0) return;
      context.details = await call("PATCH", `/servicenow-details/${details.id}/`, { body: changes });
    }
    element.reset();
    renderServiceNow(s, context, changed);
    changed();
    s.body.querySelector(".verify")?.focus();
  }, {
    extraButtons: details ? [h("button", {
      type: "button",
      class: "secondary verify",
      onclick: async (event) => {
        const button = event.currentTarget;
        const element = button.closest("form");
        clearErrors(element);
        button.disabled = true;
        fill(outcome, h("p", {}, "Checking with the instance…"));
        try {
          const checked = await call("POST", `/servicenow-details/${details.id}/verify/`);
          context.details = { ...details, status: checked.status, status_detail: checked.detail, status_checked_at: checked.checked_at };
          renderServiceNow(s, context, changed);
        } catch (error) {
          outcome.replaceChildren();
          showError(element, error);
        } finally {
          button.disabled = false;
        }
      },
    }, "Verify")] : [],
  });
  fill(s.body, detailsForm, outcome);
}

// ---------------------------------------------------------------- 2. X

async function loadX(s, userId) {
  let connection;
  try {
    const answer = await call("GET", "/twitter-details/", { query: { page_size: 200 } });
    connection = answer.results.find((record) => record.user === userId) || null;
  } catch (error) {
    fill(s.body, errorBox(error));
    return;
  }
  const problem = h("div", { class: "alert", role: "alert", hidden: true });
  const fail = (error) => {
    fill(problem, errorBox(error));
    problem.hidden = false;
  };
  const connect = h("button", {
    type: "button",
    class: connection ? "secondary" : null,
    onclick: async () => {
      try {
        // return_to: the callback sends the browser back here, to #/connect-x.
        const started = await call("GET", "/get-auth-url", { query: { return_to: "console" } });
        // The same tab, so that this tab's session is there when X sends it back.
        location.assign(started.auth_url);
      } catch (error) {
        fail(error);
      }
    },
  }, connection ? "Reconnect X" : "Connect X");
  if (!connection) {
    s.setState("todo", "To do");
    fill(s.body, 
      h("p", {}, "Connect the company's X account: X asks its owner to approve Twittnow, then brings you back here to confirm."),
      h("div", { class: "actions" }, connect), problem);
    return;
  }
  s.setState(connection.status, connection.status === "connected" ? "Connected" : "Broken");
  const disconnect = h("button", {
    type: "button",
    class: "danger",
    onclick: async () => {
      const sure = await confirmAction(
        `Disconnect @${connection.screen_name}? Customers' messages to it stop reaching ServiceNow until you connect it again.`,
        "Disconnect",
      );
      if (!sure) return;
      try {
        await call("DELETE", "/twitter-revoke/");
        loadX(s, userId);
      } catch (error) {
        fail(error);
      }
    },
  }, "Disconnect");
  fill(s.body, 
    h("p", { class: "account" }, h("strong", {}, `@${connection.screen_name}`), " ",
      badge(connection.status), " since ", time(connection.connected_at)),
    connection.status_detail ? h("p", { class: "detail" }, connection.status_detail) : null,
    h("div", { class: "actions" }, connect, disconnect), problem);
}

// Why the callback sent the browser back without an account, by the error's code: worded
// here, so that a crafted link cannot make the console say what it likes.
const NOT_CONNECTED = {
  PERMISSION_DENIED: "The authorization was declined on X.",
  CONFLICT: "This company is connected to another X account (disconnect it first), or another company holds this one.",
  UPSTREAM_UNAVAILABLE: "X did not answer or is rate limiting Twittnow. Try again in a minute.",
  NOT_FOUND: "The user who started the authorization no longer exists.",
  VALIDATION_ERROR: "X did not authorize Twittnow, or refused its code.",
};

// Where the X callback sends the browser (itself, or its page's link): the pending
// account, confirmed with a click, or why X did not connect it.
export function connectXView(main, { argument }) {
  const pending = new URLSearchParams(argument);
  if (pending.has("error")) {
    const code = pending.get("error");
    history.replaceState(null, "", "#/connect-x");
    main.append(
      h("h1", {}, "X account not connected"),
      h("div", { class: "alert", role: "alert" },
        h("p", {}, Object.hasOwn(NOT_CONNECTED, code) ? NOT_CONNECTED[code] : "X did not connect the account."),
        h("p", {}, "Nothing changed. Start again with Connect X.")),
      h("p", {}, h("a", { href: "#/setup" }, "Back to the setup")));
    main.querySelector("a").focus();
    return;
  }
  const confirmation = pending.get("confirmation") || "";
  const screenName = pending.get("screen_name") || "";
  const company = pending.get("company") || "";
  const result = h("div", { role: "status" });
  const confirmForm = form("Confirm the X connection", [], `Connect @${screenName}`, async (_, element) => {
    const connected = await call("POST", "/twitter-callback/confirm/", { body: { confirmation } });
    element.remove();
    // The code is used: out of the address bar and the history.
    history.replaceState(null, "", "#/connect-x");
    fill(result, 
      h("p", {}, badge(connected.status, "Connected"), ` @${connected.screen_name} is connected.`),
      h("p", {}, h("a", { href: "#/setup" }, "Back to the setup")));
    result.querySelector("a").focus();
  });
  main.append(
    h("h1", {}, "Connect the X account"),
    h("p", { class: "notice" }, `@${screenName} will be connected to ${company} in Twittnow. If you did not start this, close this page: nothing is connected.`),
    confirmForm,
    result);
  confirmForm.querySelector("button").focus();
}

// ---------------------------------------------------------------- 3. custom fields

async function loadFields(s, done = "") {
  let fields;
  try {
    fields = (await call("GET", "/custom-fields/", { query: { page_size: 200 } })).results;
  } catch (error) {
    fill(s.body, errorBox(error));
    return;
  }
  s.setState(fields.length ? "ok" : "optional", fields.length ? `${fields.length} asked` : "Optional");
  const reload = (message) => loadFields(s, message);
  const list = h("ol", { class: "fields" }, fields.map((customField) => h("li", {},
    form(`Custom field ${customField.field_name}`, [
      h("p", { class: "field-name" }, customField.field_name),
      field(`Question for ${customField.field_name}`, "message", { value: customField.message, required: true }),
    ], "Save question", async ({ message }) => {
      await call("PATCH", `/custom-fields/${customField.id}/`, { body: { message } });
      await reload(`Saved the question for ${customField.field_name}.`);
    }, {
      extraButtons: [h("button", {
        type: "button",
        class: "danger",
        onclick: async (event) => {
          const element = event.currentTarget.closest("form");
          const sure = await confirmAction(`Delete the custom field ${customField.field_name}? The bot stops asking it.`, "Delete");
          if (!sure) return;
          try {
            await call("DELETE", `/custom-fields/${customField.id}/`);
            await reload(`Deleted ${customField.field_name}.`);
          } catch (error) {
            showError(element, error);
          }
        },
      }, "Delete")],
    }))));
  const addForm = form("Add a custom field", [
    field("Field name", "field_name", { required: true, placeholder: "City" }),
    field("Question the bot asks", "message", { required: true, placeholder: "Which city do you live in?" }),
  ], "Add field", async (values) => {
    const added = await call("POST", "/custom-fields/", { body: values });
    await reload(`Added ${added.field_name}.`);
    s.body.querySelector("form:last-of-type input")?.focus();
  });
  fill(s.body, 
    h("p", {}, "Before opening a case, the bot asks a new customer these questions, in this order, and puts the answers on the case."),
    fields.length ? list : h("p", { class: "empty" }, "No custom fields: cases open at the customer's first message."),
    h("p", { role: "status", class: "done" }, done),
    h("h3", {}, "Add a field"),
    addForm);
}

// ---------------------------------------------------------------- 4. API key

function renderKey(s, changed) {
  s.setState(generatedKey ? "ok" : "todo", generatedKey ? "Generated" : "To do");
  const shown = h("div", { class: "secret", role: "status" });
  if (generatedKey) {
    const id = "api-key-value";
    shown.append(
      h("label", { for: id }, "Your new developer API key (shown once: copy it now)"),
      h("div", { class: "with-copy" },
        h("input", { id, type: "text", readonly: true, value: generatedKey, class: "mono" }),
        copyButton(generatedKey, "Copy key")));
  }
  const generate = form("Developer API key", [], generatedKey ? "Generate another key" : "Generate key", async () => {
    const sure = await confirmAction(
      "Generate a new developer API key? The previous key, if any, stops working at once: set the new one in ServiceNow (twittnow.api_key).",
      "Generate",
    );
    if (!sure) return;
    generatedKey = (await call("POST", "/api-key/")).token;
    renderKey(s, changed);
    changed();
    document.getElementById("api-key-value").focus();
  });
  fill(s.body, 
    h("p", {}, "Your ServiceNow instance sends your agents' replies to Twittnow with this key (the update set's twittnow.api_key)."),
    h("p", { class: "warning" }, "Generating a key replaces the previous one: the previous key stops working at once. No one can see a key again after it is shown."),
    generate, shown);
}

// ---------------------------------------------------------------- 5. update set

function renderUpdateSet(s, context) {
  s.setState("manual", "In ServiceNow");
  const endpoint = apiBase.href.replace(/\/$/, "");
  const properties = [
    ["twittnow.events_endpoint", endpoint, "This API's base URL; the rule adds /events/."],
    ["twittnow.api_key", generatedKey, generatedKey ? "The key of step 4." : "Generate the key in step 4, then copy it here."],
    ["twittnow.integration_user", context.details?.admin_user || "", context.details ? "The integration user of step 1." : "The integration user of step 1, once saved."],
  ];
  fill(s.body, 
    h("p", {}, "The update set lets your agents' replies reach customers on X. In ServiceNow (as an admin): System Update Sets › Retrieved Update Sets › Import Update Set from XML, then Preview and Commit it."),
    h("p", {}, h("a", { href: "twittnow_update_set.xml", download: "twittnow_update_set.xml", class: "button-link" }, "Download the update set (XML)")),
    h("p", {}, "Then set these system properties (sys_properties.list, names starting with twittnow.):"),
    h("dl", { class: "properties" }, properties.map(([name, value, note]) => [
      h("dt", {}, h("code", {}, name)),
      h("dd", {},
        value ? h("span", { class: "with-copy" }, h("code", { class: "value" }, value), copyButton(value, "Copy", `Copy ${name}`)) : null,
        h("span", { class: "hint" }, note)),
    ])));
}

