// Small DOM helpers: elements built with text nodes only (nothing the API answers is ever
// parsed as HTML), forms whose errors show next to the fields the API's `details` name,
// a confirmation dialog, copy buttons and a pager.

import { ApiError } from "./api.js";

let ids = 0;
export const newId = (prefix) => `${prefix}-${(ids += 1)}`;

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else if (name === "value") element.value = value;
    else if (name === "checked") element.checked = Boolean(value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

// Replaces the element's children; null and false children are left out.
export function fill(element, ...children) {
  element.replaceChildren(...children.flat(Infinity).filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

export function time(iso) {
  if (!iso) return h("span", {}, "—");
  const moment = new Date(iso);
  return h("time", { datetime: iso, title: iso }, moment.toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  }));
}

const STATUS_KINDS = {
  ok: "good", connected: "good", delivered: "good", commented: "good", case_created: "good",
  open: "good", answered: "good",
  failed: "bad", broken: "bad", bad_credentials: "bad", missing_role: "bad", unreachable: "bad",
};

export function badge(status, label) {
  return h("span", { class: `badge ${STATUS_KINDS[status] || "neutral"}` }, label || status.replaceAll("_", " "));
}

// A labelled input with its error area; `options` are the input's attributes.
export function field(label, name, options = {}) {
  const id = newId(name);
  const { hint, type = "text", choices, ...attributes } = options;
  const errorId = `${id}-error`;
  const hintId = hint ? `${id}-hint` : null;
  let control;
  if (type === "textarea") {
    control = h("textarea", { id, name, rows: 2, ...attributes });
  } else if (type === "select") {
    control = h("select", { id, name, ...attributes },
      choices.map(([value, text]) => h("option", { value }, text)));
  } else {
    control = h("input", { id, name, type, ...attributes });
  }
  control.setAttribute("aria-describedby", [hintId, errorId].filter(Boolean).join(" "));
  const wrapper = h("div", { class: type === "checkbox" ? "field checkbox" : "field" },
    type === "checkbox" ? [control, h("label", { for: id }, label)] : [h("label", { for: id }, label), control],
    hint ? h("p", { class: "hint", id: hintId }, hint) : null,
    h("p", { class: "error", id: errorId, hidden: true }));
  return wrapper;
}

// A form whose submit runs `submit(values, form)`; an ApiError it throws is shown: the
// envelope's message above the form's buttons, and each of its details next to its field.
export function form(label, children, submitLabel, submit, { extraButtons = [] } = {}) {
  const alert = h("div", { class: "alert", role: "alert", hidden: true });
  const button = h("button", { type: "submit" }, submitLabel);
  const element = h("form", { "aria-label": label, novalidate: true },
    children, alert, h("div", { class: "actions" }, button, extraButtons));
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(element);
    button.disabled = true;
    try {
      await submit(values(element), element);
    } catch (error) {
      showError(element, error);
    } finally {
      if (!element.dataset.waiting) button.disabled = false;
    }
  });
  return element;
}

export function values(element) {
  const result = {};
  for (const control of element.querySelectorAll("input, textarea, select")) {
    if (!control.name) continue;
    result[control.name] = control.type === "checkbox" ? control.checked : control.value;
  }
  return result;
}

export function clearErrors(element) {
  for (const error of element.querySelectorAll(".error")) {
    error.hidden = true;
    error.textContent = "";
  }
  for (const control of element.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
  const alert = element.querySelector(":scope > .alert");
  if (alert) {
    alert.hidden = true;
    alert.replaceChildren();
  }
}

export function showError(element, error) {
  if (!(error instanceof ApiError)) throw error;
  const alert = element.querySelector(":scope > .alert");
  let firstInvalid = null;
  for (const [name, messages] of Object.entries(error.details)) {
    const control = element.querySelector(`[name="${CSS.escape(name)}"]`);
    if (!control) continue;
    control.setAttribute("aria-invalid", "true");
    const area = document.getElementById(`${control.id}-error`);
    area.textContent = messages.join(" ");
    area.hidden = false;
    firstInvalid = firstInvalid || control;
  }
  fill(alert, 
    h("p", {}, error.message),
    error.retryAfter !== null ? h("p", { class: "retry" }, `Wait ${error.retryAfter} seconds, then try again.`) : null,
    error.requestId ? h("p", { class: "request-id" }, `Request id: ${error.requestId}`) : null,
  );
  alert.hidden = false;
  (firstInvalid || alert).focus?.();
}

// An error shown where a form is not at hand (a list that failed to load).
export function errorBox(error) {
  if (!(error instanceof ApiError)) throw error;
  return h("div", { class: "alert", role: "alert" }, h("p", {}, error.message),
    error.requestId ? h("p", { class: "request-id" }, `Request id: ${error.requestId}`) : null);
}

export function confirmAction(message, confirmLabel) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-message").textContent = message;
  document.getElementById("confirm-button").textContent = confirmLabel;
  dialog.returnValue = "";
  dialog.showModal();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "confirm"), { once: true });
  });
}

// `label` is the button's text; `name`, when given, what it is called for screen readers.
export function copyButton(text, label, name) {
  const status = h("span", { class: "copied", role: "status" });
  const button = h("button", {
    type: "button",
    class: "secondary small",
    "aria-label": name,
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(typeof text === "function" ? text() : text);
        status.textContent = "Copied";
      } catch {
        status.textContent = "Select the text and copy it";
      }
      setTimeout(() => { status.textContent = ""; }, 3000);
    },
  }, label);
  return h("span", { class: "copy" }, button, status);
}

// "Page 2 of 5" with Previous and Next, for a list answer ({count, next, previous}).
export function pager(answer, page, pageSize, go) {
  const pages = Math.max(1, Math.ceil(answer.count / pageSize));
  return h("nav", { class: "pager", "aria-label": "Pages" },
    h("button", { type: "button", class: "secondary small", disabled: !answer.previous, onclick: () => go(page - 1) }, "Previous page"),
    h("span", {}, `Page ${page} of ${pages} (${answer.count} in all)`),
    h("button", { type: "button", class: "secondary small", disabled: !answer.next, onclick: () => go(page + 1) }, "Next page"));
}

// A table that becomes one card per row on narrow screens (each cell says its column).
export function table(caption, columns, rows) {
  return h("table", {},
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, columns.map((column) => h("th", { scope: "col" }, column)))),
    h("tbody", {}, rows.map((cells) => h("tr", {},
      cells.map((cell, index) => h("td", { "data-label": columns[index] }, cell))))));
}
