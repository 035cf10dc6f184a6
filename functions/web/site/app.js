// The marketplace's pages. Each page is a function of the path that asks the
// API (same origin, so the session cookie goes along) and builds the DOM with
// h(), which never parses HTML: titles and messages are other people's text.
"use strict";

const main = document.getElementById("main");
const stripeKey = document.body.dataset.stripeKey || "";
let me = null; // the signed-in user, or null
let leaving = () => {}; // stops the current page's timers when another opens
let shown = 0; // counts the pages opened, so that a slow answer for one left cannot replace the next

// h builds an element: h("a", {href: "/"}, "Home").
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v == null) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  el.append(...children.flat().filter((c) => c != null && c !== false));
  return el;
}

// ApiError is an answer in API.md's error shape, or a network failure.
class ApiError extends Error {
  constructor(status, errors, retryAfter) {
    super(errors.map((e) => e.message).join(" "));
    this.status = status;
    this.errors = errors;
    this.retryAfter = retryAfter;
  }
}

// Left is thrown by api when the page that asked was left while it waited.
class Left extends Error {}

// api calls the API and returns the answer's JSON, or throws an ApiError.
async function api(method, path, body) {
  const page = shown;
  const init = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, [{ message: "The server cannot be reached. Check your connection and try again." }]);
  }
  const text = await res.text();
  if (page !== shown) throw new Left();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.ok) return { status: res.status, data, headers: res.headers };
  const errors = data && Array.isArray(data.errors) && data.errors.length
    ? data.errors
    : [{ message: `The server answered ${res.status} ${res.statusText}.` }];
  throw new ApiError(res.status, errors, res.headers.get("Retry-After"));
}

// explain says an error as a person should read it.
function explain(err) {
  if (!(err instanceof ApiError)) return String(err);
  if (err.status === 429) {
    const wait = err.retryAfter ? ` in ${err.retryAfter} seconds` : " in a moment";
    return `${err.message} Please try again${wait}.`;
  }
  if (err.status === 503) return `${err.message} Please try again in a moment.`;
  return err.message;
}

function message(kind, text) {
  return h("p", { class: `message ${kind}`, role: kind === "error" ? "alert" : "status" }, text || "");
}

const dollars = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
const price = (p) => dollars.format(p);

// go opens the page at path without reloading.
function go(path, replace) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  render();
}

// Links inside the site open their page in place.
document.addEventListener("click", (e) => {
  const a = e.target.closest("a");
  if (!a || a.target || a.origin !== location.origin || a.pathname.startsWith("/api/")) return;
  if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  go(a.pathname + a.search);
});
window.addEventListener("popstate", render);

const pages = [
  [/^\/$/, listTickets],
  [/^\/tickets\/new$/, sellTicket],
  [/^\/tickets\/([0-9a-f]{24})$/, showTicket],
  [/^\/tickets\/([0-9a-f]{24})\/edit$/, editTicket],
  [/^\/orders$/, listOrders],
  [/^\/orders\/([0-9a-f]{24})$/, showOrder],
  [/^\/signin$/, () => signForm("signin")],
  [/^\/signup$/, () => signForm("signup")],
];

async function render() {
  leaving();
  leaving = () => {};
  shown++;
  const path = location.pathname;
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === path) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  const page = pages.find(([re]) => re.test(path));
  show(h("p", { class: "muted" }, "Loading…"));
  try {
    await whoAmI();
    if (!page) {
      show(h("h1", {}, "Not found"), h("p", {}, "There is no such page. ", h("a", { href: "/" }, "See the tickets on sale.")));
      return;
    }
    await page[1](...path.match(page[0]).slice(1));
  } catch (err) {
    if (err instanceof Left) return;
    show(h("h1", {}, "Something went wrong"), message("error", explain(err)));
  }
}

// show replaces the page's content and moves the focus to its heading, so
// that a keyboard or screen reader user knows the page changed.
function show(...nodes) {
  main.replaceChildren(...nodes.filter((n) => n != null && n !== false));
  const heading = main.querySelector("h1");
  document.title = heading ? `${heading.textContent} · Tickets` : "Tickets";
  (heading || main).setAttribute("tabindex", "-1");
  (heading || main).focus({ preventScroll: false });
}

async function whoAmI() {
  const { data } = await api("GET", "/api/users/currentuser");
  me = data && data.currentUser;
  const session = document.getElementById("session");
  if (me) {
    session.replaceChildren(
      h("span", {}, me.email),
      h("button", { class: "link", type: "button", onclick: signOut }, "Sign out"),
    );
  } else {
    session.replaceChildren(h("a", { href: "/signin" }, "Sign in"), h("a", { href: "/signup" }, "Sign up"));
  }
}

async function signOut() {
  try {
    await api("POST", "/api/users/signout");
    go("/");
  } catch (err) {
    main.prepend(message("error", explain(err)));
  }
}

// needSession shows the sign-in link instead of a page that needs a session.
function needSession(what) {
  if (me) return false;
  show(h("h1", {}, what), h("p", {}, h("a", { href: `/signin?next=${encodeURIComponent(location.pathname)}` }, "Sign in"), " or ",
    h("a", { href: `/signup?next=${encodeURIComponent(location.pathname)}` }, "sign up"), " first."));
  return true;
}

// form builds a form whose fields show the API's validation messages next
// to them and whose other errors show above it; submit returns the path to
// open next.
function form({ fields, button, submit }) {
  const top = message("error");
  const inputs = {};
  const rows = fields.map((f) => {
    const id = `field-${f.name}`;
    const error = h("span", { class: "field-error", id: `${id}-error` });
    inputs[f.name] = h("input", {
      id, name: f.name, type: f.type || "text", value: f.value ?? "", autocomplete: f.autocomplete,
      inputmode: f.inputmode, required: true, "aria-describedby": `${id}-error`,
    });
    inputs[f.name].error = error;
    return h("label", { for: id }, f.label, inputs[f.name], error);
  });
  const submitButton = h("button", { type: "submit" }, button);
  const el = h("form", { novalidate: true }, top, ...rows, submitButton);
  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    top.textContent = "";
    for (const input of Object.values(inputs)) {
      input.error.textContent = "";
      input.removeAttribute("aria-invalid");
    }
    submitButton.disabled = true;
    try {
      const values = Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, v.value]));
      const next = await submit(values);
      if (next) go(next);
    } catch (err) {
      const general = [];
      for (const e of err.errors || [{ message: explain(err) }]) {
        const input = e.field && inputs[e.field];
        if (input) {
          input.error.textContent = [input.error.textContent, e.message].filter(Boolean).join(" ");
          input.setAttribute("aria-invalid", "true");
        } else {
          general.push(err.status === 429 || err.status === 503 ? explain(err) : e.message);
        }
      }
      top.textContent = general.join(" ");
      const first = el.querySelector("[aria-invalid=true]");
      if (first) first.focus();
    } finally {
      submitButton.disabled = false;
    }
  });
  return el;
}

async function listTickets() {
  const query = new URLSearchParams(location.search);
  const { data, headers } = await api("GET", `/api/tickets?${query}`);
  const next = (headers.get("Link") || "").match(/<\/api\/tickets\?([^>]*)>;\s*rel="next"/);
  show(
    h("h1", {}, "Tickets on sale"),
    data.length
      ? h("ul", { class: "cards" }, data.map((t) =>
        h("li", { class: "card" }, h("a", { href: `/tickets/${t.id}` }, t.title), h("span", { class: "price" }, price(t.price)))))
      : h("p", { class: "muted" }, "Nothing is on sale right now. ", h("a", { href: "/tickets/new" }, "Sell a ticket.")),
    next && h("p", {}, h("a", { href: `/?${next[1]}` }, "More tickets")),
  );
}

async function sellTicket() {
  if (needSession("Sell a ticket")) return;
  show(h("h1", {}, "Sell a ticket"), form({
    fields: [
      { name: "title", label: "Title" },
      { name: "price", label: "Price (USD)", inputmode: "decimal" },
    ],
    button: "List it",
    submit: async (v) => {
      const { data } = await api("POST", "/api/tickets", { title: v.title, price: v.price });
      return `/tickets/${data.id}`;
    },
  }));
}

async function showTicket(id) {
  const { data: t } = await api("GET", `/api/tickets/${id}`);
  const mine = me && me.id === t.userId;
  const status = message("error");
  const actions = h("div", { class: "actions" });
  if (mine) {
    actions.append(h("a", { href: `/tickets/${id}/edit` }, "Edit"));
  } else if (t.orderId) {
    actions.append(h("span", { class: "muted" }, "Someone is buying this ticket."));
  } else if (!me) {
    actions.append(h("a", { href: `/signin?next=${encodeURIComponent(location.pathname)}` }, "Sign in to buy"));
  } else {
    const buy = h("button", { type: "button" }, "Buy");
    buy.addEventListener("click", async () => {
      buy.disabled = true;
      status.textContent = "";
      try {
        const { data: order } = await api("POST", "/api/orders", { ticketId: id });
        go(`/orders/${order.id}`);
      } catch (err) {
        status.textContent = explain(err);
        buy.disabled = false;
      }
    });
    actions.append(buy);
  }
  show(
    h("h1", {}, t.title),
    status,
    h("dl", {}, h("dt", {}, "Price"), h("dd", { class: "price" }, price(t.price)),
      h("dt", {}, "Status"), h("dd", {}, t.orderId ? "Reserved" : "On sale")),
    actions,
  );
}

async function editTicket(id) {
  if (needSession("Edit a ticket")) return;
  const { data: t } = await api("GET", `/api/tickets/${id}`);
  show(h("h1", {}, `Edit “${t.title}”`), form({
    fields: [
      { name: "title", label: "Title", value: t.title },
      { name: "price", label: "Price (USD)", value: String(t.price), inputmode: "decimal" },
    ],
    button: "Save",
    submit: async (v) => {
      await api("PUT", `/api/tickets/${id}`, { title: v.title, price: v.price });
      return `/tickets/${id}`;
    },
  }));
}

function signForm(kind) {
  const up = kind === "signup";
  const next = new URLSearchParams(location.search).get("next");
  const target = next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
  show(
    h("h1", {}, up ? "Sign up" : "Sign in"),
    form({
      fields: [
        { name: "email", label: "Email", type: "email", autocomplete: "email" },
        { name: "password", label: "Password", type: "password", autocomplete: up ? "new-password" : "current-password" },
      ],
      button: up ? "Sign up" : "Sign in",
      submit: async (v) => {
        await api("POST", `/api/users/${kind}`, v);
        return target;
      },
    }),
    h("p", {}, up ? "Have an account? " : "New here? ",
      h("a", { href: `/${up ? "signin" : "signup"}${location.search}` }, up ? "Sign in" : "Sign up")),
  );
}

async function listOrders() {
  if (needSession("My orders")) return;
  const { data } = await api("GET", "/api/orders");
  const newest = [...data].reverse();
  show(
    h("h1", {}, "My orders"),
    newest.length
      ? h("ul", { class: "cards" }, newest.map((o) =>
        h("li", { class: "card" },
          h("a", { href: `/orders/${o.id}` }, o.ticket ? o.ticket.title : o.id),
          h("span", {}, h("span", { class: `status status-${o.status.replace(":", "-")}` }, statusText(o.status)), " · ",
            h("span", { class: "price" }, price(orderPrice(o)))))))
      : h("p", { class: "muted" }, "You have no orders yet. ", h("a", { href: "/" }, "See the tickets on sale.")),
  );
}

const orderPrice = (o) => (o.price ?? (o.ticket && o.ticket.price));

function statusText(s) {
  return { created: "Awaiting payment", "awaiting:payment": "Confirming payment", complete: "Paid", cancelled: "Cancelled" }[s] || s;
}

// showOrder follows the order until it is complete or cancelled: the
// countdown ticks every second, and the order is asked again every two.
async function showOrder(id) {
  if (needSession("Order")) return;
  let { data: order } = await api("GET", `/api/orders/${id}`);
  const status = h("dd", {});
  const left = h("dd", { "aria-live": "off" });
  const notice = message("info");
  const problem = message("error");
  const pay = payForm(id, problem, notice, () => refresh());
  const cancel = h("button", { type: "button", class: "secondary" }, "Cancel order");
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    try {
      await api("DELETE", `/api/orders/${id}`);
      await refresh();
    } catch (err) {
      problem.textContent = explain(err);
    } finally {
      cancel.disabled = false;
    }
  });
  const actions = h("div", { class: "actions" }, pay, cancel);
  show(
    h("h1", {}, `Order for “${order.ticket ? order.ticket.title : id}”`),
    problem,
    notice,
    h("dl", {},
      h("dt", {}, "Status"), status,
      h("dt", {}, "Price"), h("dd", { class: "price" }, price(orderPrice(order))),
      h("dt", {}, "Time left"), left),
    actions,
  );

  function draw() {
    status.replaceChildren(h("span", { class: `status status-${order.status.replace(":", "-")}`, role: "status" }, statusText(order.status)));
    const open = order.status === "created";
    pay.hidden = !open;
    // An order awaiting its payment's outcome cannot be cancelled (400).
    cancel.hidden = !open;
    const ms = new Date(order.expiresAt) - Date.now();
    if (order.status === "complete") left.textContent = "Paid: the ticket is yours.";
    else if (order.status === "cancelled") left.textContent = "This order was cancelled; the ticket is on sale again.";
    else if (order.status === "awaiting:payment") left.textContent = "Your payment is being confirmed.";
    else if (ms > 0) left.textContent = countdown(ms);
    else {
      left.textContent = "Expired: the order is being cancelled.";
      pay.hidden = true;
    }
  }
  async function refresh() {
    try {
      ({ data: order } = await api("GET", `/api/orders/${id}`));
      draw();
    } catch (err) {
      problem.textContent = explain(err);
    }
  }
  draw();
  const tick = setInterval(draw, 1000);
  const poll = setInterval(() => {
    if (order.status === "complete" || order.status === "cancelled") return;
    refresh();
  }, 2000);
  leaving = () => {
    clearInterval(tick);
    clearInterval(poll);
  };
}

function countdown(ms) {
  const s = Math.ceil(ms / 1000);
  const m = Math.floor(s / 60);
  return `${m}:${String(s % 60).padStart(2, "0")} to pay`;
}

// payForm pays with Stripe.js's card element when a publishable key is
// configured, and otherwise with one of Stripe's test tokens, which
// stripe-mock and Stripe's test mode both know.
function payForm(orderId, problem, notice, paid) {
  const button = h("button", { type: "submit" }, "Pay");
  let token;
  let body;
  if (stripeKey && window.Stripe) {
    const stripe = window.Stripe(stripeKey);
    const card = stripe.elements().create("card");
    const mount = h("div", { id: "card-element" });
    body = h("label", {}, "Card", mount);
    setTimeout(() => card.mount(mount));
    token = async () => {
      const { token: t, error } = await stripe.createToken(card);
      if (error) throw new ApiError(400, [{ message: error.message }]);
      return t.id;
    };
  } else {
    const choice = (value, label, checked) => h("label", {}, h("input", { type: "radio", name: "token", value, checked }), label);
    body = h("fieldset", {}, h("legend", {}, "Test card"),
      choice("tok_visa", "Visa that pays (tok_visa)", true),
      choice("tok_chargeDeclined", "Card that is declined (tok_chargeDeclined)", false));
    token = async () => body.querySelector("input[name=token]:checked").value;
  }
  const el = h("form", { class: "pay" }, body, button);
  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    problem.textContent = "";
    notice.textContent = "";
    button.disabled = true;
    try {
      const { status } = await api("POST", "/api/payments", { orderId, token: await token() });
      notice.textContent = status === 202 ? "Your payment is being confirmed." : "Payment received.";
      await paid();
    } catch (err) {
      problem.textContent = explain(err);
      await paid();
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

render();
