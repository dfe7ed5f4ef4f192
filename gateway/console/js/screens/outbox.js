// The outbox (MRAO only): the mail Certplane would have sent while no SMTP server is configured, newest first,
// with its whole text — DCV codes and links included, which is how an administrator reads a DCV code without a
// mail server. Live: the page is checked again every 5 s in the background while it is shown.
import { api } from "../api.js";
import { navigate, screen } from "../router.js";
import { badge, clear, fmtDate, h, notice, pager } from "../ui.js";
import { isMrao } from "../session.js";

const PAGE = 20;
const LIVE_MS = 5000;
const URL_PATTERN = /(https?:\/\/[^\s<>"]+)/g;

// the mail's text with its links clickable (text nodes and <a> elements only, never HTML)
function mailText(text) {
  const parts = String(text).split(URL_PATTERN);
  return h("pre", { class: "mail-text", "data-testid": "mail-text" },
    parts.map((part, i) => (i % 2 === 1 ? h("a", { href: part, rel: "noopener noreferrer", target: "_blank" }, part) : part)));
}

function mail(message) {
  return h("article", { class: "mail card", "data-testid": "mail", "data-message-id": message.message_id },
    h("header", { class: "mail-head" },
      h("h2", { class: "mail-subject" }, message.subject),
      badge(message.kind)),
    h("dl", { class: "facts mail-facts" },
      h("dt", {}, "To"), h("dd", { "data-testid": "mail-to" }, message.to),
      h("dt", {}, "Written"), h("dd", {}, h("time", { datetime: message.created_at }, fmtDate(message.created_at)))),
    mailText(message.text));
}

screen({
  path: "/outbox",
  title: "Outbox",
  nav: { label: "Outbox", order: 90, visible: isMrao },
  async render(ctx) {
    const position = Number(ctx.query.position || 0);
    const load = (background) => api("GET", "/api/v1/outbox", { query: { position, size: PAGE }, background });
    let found = await load(false);
    const list = h("div", { class: "mail-list", "data-testid": "outbox-rows", "aria-live": "polite" });
    const pages = h("div", {});
    const status = h("p", { class: "muted live", "data-testid": "outbox-live" });
    const fill = () => {
      clear(list, found.items.length ? found.items.map(mail)
        : notice(position ? "No mail on this page." : "The outbox is empty: no mail was written yet.", "info"));
      clear(pages, pager({ total: found.total, position, size: PAGE,
                           onChange: (next) => navigate("/outbox", { ...ctx.query, position: next }) }));
      clear(status, `Refreshed ${fmtDate(new Date().toISOString())}; checked again every 5 seconds.`);
    };
    const signature = (page) => `${page.total}:${page.items.map((m) => m.message_id).join(",")}`;
    fill();
    clear(ctx.main,
      h("div", { class: "page-head" }, h("h1", {}, "Outbox")),
      h("p", {}, "No SMTP server is configured, so the mail Certplane would send is kept here instead — ",
        "read DCV codes and links from it. Newest first."),
      status, list, pages);
    ctx.poll(async () => {
      const next = await load(true);
      const changed = signature(next) !== signature(found);
      found = next;
      if (changed) fill();
      else clear(status, `Refreshed ${fmtDate(new Date().toISOString())}; checked again every 5 seconds.`);
    }, LIVE_MS);
  },
});
