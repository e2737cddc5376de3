// Conversations: the list (customer, channel, case, status, failed messages, last message)
// with a filter for those with a failed message (the API's ?failed=true), and a thread with
// each message's status and failure reason. Both refresh themselves while open.

import { allPages, call } from "./api.js";
import { badge, errorBox, field, fill, h, pager, table, time } from "./ui.js";

const REFRESH_MS = 5000;
const PAGE_SIZE = 20;
const CHANNELS = { x_chat: "X Chat", dm: "DM", post: "Post", mention: "Post" };
const AUTHORS = { customer: "Customer", staff: "Company on X", agent: "Agent", bot: "Twittnow bot" };

let onlyFailed = false;
let page = 1;

// Refreshes `load` every few seconds while the view is open and the tab is visible;
// answers the view's leave function.
function refreshing(load) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) await load();
    if (!stopped) timer = setTimeout(tick, REFRESH_MS);
  };
  tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

// The tenants' ServiceNow instances, by tenant id, for the cases' links.
async function instances() {
  const details = await allPages("/servicenow-details/");
  return Object.fromEntries(details.map((record) => [record.user, record.instance_url]));
}

export function caseLink(instanceUrl, conversation) {
  if (!conversation.case_number) return h("span", { class: "muted" }, "No case yet");
  if (!instanceUrl || !conversation.case_sys_id) return h("span", {}, conversation.case_number);
  const url = `${instanceUrl}/nav_to.do?uri=${encodeURIComponent(`sn_customerservice_case.do?sys_id=${conversation.case_sys_id}`)}`;
  return h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, conversation.case_number,
    h("span", { class: "visually-hidden" }, " (opens ServiceNow in a new tab)"));
}

function channelOf(conversation) {
  const channel = conversation.latest_channel || conversation.channel;
  return CHANNELS[channel] || channel;
}

function failedCount(conversation) {
  const failed = conversation.failed_messages || 0;
  return failed > 0 ? badge("failed", `${failed} failed`) : h("span", { class: "muted" }, "None");
}

export function conversationsView(main, { session }) {
  const listArea = h("div", { class: "list" });
  const updated = h("p", { class: "updated muted" });
  const filter = field("Only conversations with a failed message", "only_failed", {
    type: "checkbox",
    checked: onlyFailed,
    onchange: (event) => {
      onlyFailed = event.currentTarget.checked;
      page = 1;
      load();
    },
  });
  main.append(
    h("h1", {}, "Conversations"),
    h("p", { class: "lead" }, session.user.is_admin
      ? "Every tenant's customers on X, the latest first."
      : "Your customers on X, the latest first, each with its case."),
    h("div", { class: "toolbar" }, filter, updated),
    listArea);
  let links = {};
  let loading = false;
  async function load() {
    if (loading) return;
    loading = true;
    try {
      links = await instances();
      const query = { page, page_size: PAGE_SIZE, ...(onlyFailed ? { failed: "true" } : {}) };
      const answer = await call("GET", "/conversations/", { query });
      const shown = answer.results;
      fill(listArea,
        shown.length === 0
          ? h("p", { class: "empty" }, onlyFailed ? "No conversation has a failed message." : "No conversations yet: they appear when a customer writes to your X account.")
          : table("Conversations", ["Customer", "Channel", "Case", "Status", "Failed messages", "Last message"], shown.map((conversation) => [
            h("a", { href: `#/conversations/${conversation.id}` }, `@${conversation.customer_screen_name}`,
              conversation.customer_name ? h("span", { class: "muted" }, ` ${conversation.customer_name}`) : null),
            channelOf(conversation),
            caseLink(links[conversation.user], conversation),
            badge(conversation.status),
            failedCount(conversation),
            time(conversation.last_message_at),
          ])),
        pager(answer, page, PAGE_SIZE, (next) => { page = next; load(); }));
      fill(updated, "Updated ", time(new Date().toISOString()), " · refreshes every 5 seconds");
    } catch (error) {
      // A past-the-end page (the list shrank): back to the first.
      if (error.status === 404 && page > 1) {
        page = 1;
        loading = false;
        return load();
      }
      fill(listArea, errorBox(error));
    } finally {
      loading = false;
    }
  }
  return refreshing(load);
}

export function threadView(main, { argument: conversationId }) {
  const header = h("div", { class: "thread-header" });
  const thread = h("div", { class: "thread" });
  const updated = h("p", { class: "updated muted" });
  main.append(
    h("p", {}, h("a", { href: "#/conversations" }, "← All conversations")),
    h("h1", {}, "Conversation"),
    header, updated, thread);
  let loading = false;
  async function load() {
    if (loading) return;
    loading = true;
    try {
      const [conversations, messages, links] = await Promise.all([
        allPages("/conversations/", {}, 5),
        allPages(`/conversations/${conversationId}/messages/`),
        instances(),
      ]);
      const conversation = conversations.find((candidate) => candidate.id === conversationId);
      if (conversation) {
        main.querySelector("h1").textContent = `Conversation with @${conversation.customer_screen_name}`;
        fill(header, h("dl", { class: "facts" },
          h("dt", {}, "Channel"), h("dd", {}, channelOf(conversation)),
          h("dt", {}, "Case"), h("dd", {}, caseLink(links[conversation.user], conversation)),
          h("dt", {}, "Status"), h("dd", {}, badge(conversation.status)),
          h("dt", {}, "Failed messages"), h("dd", {}, failedCount(conversation)),
          h("dt", {}, "Last message"), h("dd", {}, time(conversation.last_message_at))));
      }
      fill(thread, h("ol", { class: "messages" }, messages.map((message) => h("li", {
        class: `message ${message.direction} ${message.status === "failed" ? "failed" : ""}`,
      },
      h("p", { class: "meta" },
        h("strong", {}, AUTHORS[message.author] || message.author), " · ",
        time(message.sent_at),
        message.channel ? ` · ${CHANNELS[message.channel] || message.channel}` : null,
        message.case_number ? ` · ${message.case_number}` : null),
      h("p", { class: "text" }, message.text),
      message.media_urls.length ? h("ul", { class: "media" }, message.media_urls.map((url) => h("li", {},
        h("a", { href: url, target: "_blank", rel: "noopener noreferrer" }, "Attachment")))) : null,
      h("p", { class: "status" }, badge(message.status),
        message.status === "failed" && message.status_detail
          ? h("span", { class: "reason" }, ` ${message.status_detail}`)
          : (message.status_detail ? h("span", { class: "muted" }, ` ${message.status_detail}`) : null))))));
      fill(updated, "Updated ", time(new Date().toISOString()), " · refreshes every 5 seconds");
    } catch (error) {
      fill(thread, errorBox(error));
    } finally {
      loading = false;
    }
  }
  return refreshing(load);
}
