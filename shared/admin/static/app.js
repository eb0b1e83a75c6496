// uni-gateway admin panel. Plain ES modules, no framework, no build step.
//
// Written for the page's Content-Security-Policy (script-src 'self'; style-src 'self'): every element is
// made with DOM calls (the h() helper below), text goes in through textContent (never parsed as HTML), and no
// style attribute is ever written as text. Everything the panel knows comes from /admin/api (see the
// admin contract); the session is the HttpOnly cookie set by login, plus the CSRF token kept in
// sessionStorage and sent as X-CSRF-Token on every request that is not a GET.

import { STRINGS } from "./i18n.js";

const API = "/admin/api";
const LANG_KEY = "gw_admin_lang";
const CSRF_KEY = "gw_admin_csrf";
const ENGINES = ["openai", "azure", "anthropic", "gemini", "vertex", "vertex-express", "bedrock", "cloudflare", "openrouter",
  "databricks", "mock"];
// vertex-express is Vertex AI with API keys: the gateway's engine name for it is "vertex".
const ENGINE_SAVED_AS = { "vertex-express": "vertex" };
const ALGORITHMS = ["fixed_priority", "round_robin", "weighted_round_robin", "lottery", "random", "smart_round_robin"];
const PROVIDER_FORM_FIELDS = new Set(["provider", "engine", "base_url", "api", "model", "engine_detected", "upstream_url"]);
const PALETTE = ["#2563eb", "#16a34a", "#f59e0b", "#db2777", "#7c3aed", "#0891b2", "#dc2626", "#65a30d", "#9333ea", "#64748b"];

const state = {
  csrf: sessionStorage.getItem(CSRF_KEY),
  session: null, // {key_id, expires_at}
  status: null, // {admin_enabled, gateway_version}
  version: null, // the config version every write is based on
  tab: null,
  providers: [],
};

// ---------------------------------------------------------------------------------------------- i18n

let lang = pickLanguage();

function pickLanguage() {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved && STRINGS[saved]) return saved;
  for (const tag of navigator.languages || [navigator.language || "en"]) {
    const base = String(tag).toLowerCase().split("-")[0];
    if (STRINGS[base]) return base;
  }
  return "en";
}

function t(key, vars) {
  let text = STRINGS[lang][key] ?? STRINGS.en[key] ?? key;
  if (vars) for (const [name, value] of Object.entries(vars)) text = text.split(`{${name}}`).join(String(value));
  return text;
}

function locale() {
  return lang === "zh" ? "zh-CN" : "en";
}

function fmtNumber(n) {
  return new Intl.NumberFormat(locale()).format(n ?? 0);
}

function fmtTime(unix) {
  if (!unix) return "—";
  return new Date(unix * 1000).toLocaleString(locale(), { dateStyle: "medium", timeStyle: "short" });
}

function setLanguage(next) {
  lang = next;
  localStorage.setItem(LANG_KEY, next);
  document.documentElement.lang = locale();
  route();
}

// ----------------------------------------------------------------------------------------------- DOM

// h("button", {class: "btn", onclick: fn, text: "Save"}, ...children): one element, no HTML parsing.
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [key, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (key === "class") el.className = v;
    else if (key === "text") el.textContent = v;
    else if (key === "value") value = v;
    else if (key === "dataset") Object.assign(el.dataset, v);
    else if (key.startsWith("on") && typeof v === "function") el.addEventListener(key.slice(2), v);
    else el.setAttribute(key, v === true ? "" : String(v));
  }
  append(el, children);
  if (value !== undefined) el.value = value;
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [key, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(key, String(v));
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let uid = 0;
function nextId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}

// A labelled form control: the label points at the control, hints and errors are described-by.
function field(labelText, control, { hint, wide } = {}) {
  if (!control.id) control.id = nextId("f");
  const hintEl = hint ? h("p", { class: "hint", id: nextId("hint"), text: hint }) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: wide ? "field wide" : "field" }, h("label", { for: control.id, text: labelText }), control, hintEl);
}

function button(label, onclick, cls = "btn", extra = {}) {
  return h("button", { type: "button", class: cls, onclick, ...extra }, label);
}

function badge(text, kind = "neutral") {
  return h("span", { class: `badge badge-${kind}`, text });
}

function loading() {
  return h("p", { class: "muted loading", role: "status", text: t("loading") });
}

function empty(text) {
  return h("p", { class: "empty", text });
}

function tableWrap(table) {
  return h("div", { class: "table-wrap", tabindex: "0" }, table);
}

function table(headers, rows, { numeric = [] } = {}) {
  return tableWrap(h("table", {},
    h("thead", {}, h("tr", {}, headers.map((text, i) => h("th", { scope: "col", class: numeric.includes(i) ? "num" : null, text })))),
    h("tbody", {}, rows)));
}

function cell(content, cls) {
  return h("td", { class: cls }, content);
}

function sectionHead(title, hint, actions = []) {
  return h("div", { class: "section-head" },
    h("div", {}, h("h2", { text: title }), hint ? h("p", { class: "muted", text: hint }) : null),
    h("div", { class: "actions" }, actions));
}

function toast(message, kind = "info") {
  const region = document.getElementById("toasts");
  const el = h("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status" },
    h("span", { text: message }),
    h("button", { type: "button", class: "toast-close", "aria-label": t("close"), onclick: () => el.remove() }, "×"));
  region.append(el);
  setTimeout(() => el.remove(), kind === "error" ? 9000 : 5000);
}

// A modal yes/no question (the native <dialog>); resolves true on confirm.
function confirmDialog(message, { confirmLabel = t("confirm"), danger = true } = {}) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { class: "dialog", "aria-labelledby": "dialog-msg" });
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    append(dialog, [
      h("p", { id: "dialog-msg", class: "dialog-msg", text: message }),
      h("div", { class: "actions end" },
        button(t("cancel"), () => done(false), "btn btn-ghost"),
        button(confirmLabel, () => done(true), danger ? "btn btn-danger" : "btn btn-primary", { "data-confirm": "" })),
    ]);
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
    dialog.querySelector("[data-confirm]").focus();
  });
}

function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    return false; // not a secure context, or no permission: the text is selected for a manual copy instead
  }
}

// ----------------------------------------------------------------------------------------------- API

class ApiError extends Error {
  constructor(status, body) {
    const err = body && typeof body === "object" ? body.error || {} : {};
    super(err.message || (typeof body === "string" && body) || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || null;
    this.param = err.param || null;
    this.body = body;
  }
}

// fetch against /admin/api. body: an object (sent as JSON) or, with {yaml: true}, YAML text.
// {text: true} answers {text, headers} instead of parsed JSON.
async function api(method, path, body, opts = {}) {
  const headers = { accept: "application/json" };
  let payload;
  if (body !== undefined) {
    headers["content-type"] = opts.yaml ? "application/yaml" : "application/json";
    payload = opts.yaml ? body : JSON.stringify(body);
  }
  if (method !== "GET" && state.csrf) headers["x-csrf-token"] = state.csrf;
  let response;
  try {
    response = await fetch(API + path, { method, headers, body: payload, credentials: "same-origin", cache: "no-store" });
  } catch (exc) {
    throw new ApiError(0, { error: { message: t("network_error"), code: "network_error" } });
  }
  const text = await response.text();
  let data = null;
  if (text && (response.headers.get("content-type") || "").includes("json")) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  } else {
    data = text;
  }
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (response.status === 401 && state.session && !opts.quiet) sessionLost();
    throw error;
  }
  if (data && typeof data === "object" && typeof data.version === "number") state.version = data.version;
  if (opts.text) return { text, headers: response.headers };
  return data;
}

function sessionLost() {
  state.session = null;
  setCsrf(null);
  renderLogin(t("session_expired"));
}

function setCsrf(token) {
  state.csrf = token;
  if (token) sessionStorage.setItem(CSRF_KEY, token);
  else sessionStorage.removeItem(CSRF_KEY);
}

// The last name of a dotted error param ("config.providers[2].base_url" -> base_url) that names a
// control of the form (data-field, a space-separated list of names), marked invalid and focused.
function highlightParam(form, param) {
  if (!form || !param) return;
  const names = String(param).split(/[.[\]]+/).filter(Boolean).reverse();
  for (const name of names) {
    const target = form.querySelector(`[data-field~="${CSS.escape(name)}"]`);
    if (target) {
      markInvalid(target);
      return;
    }
  }
}

function markInvalid(target) {
  target.classList.add("invalid");
  target.setAttribute("aria-invalid", "true");
  const focusable = target.matches("input, select, textarea") ? target : target.querySelector("input, select, textarea, button");
  if (focusable) focusable.focus();
}

function clearInvalid(form) {
  for (const el of form.querySelectorAll(".invalid")) {
    el.classList.remove("invalid");
    el.removeAttribute("aria-invalid");
  }
}

// What every write does on failure: a version conflict reloads (someone else changed the config);
// a 400 shows the message in the form and marks the field it names; anything else is a toast.
function writeFailed(error, { form, errorBox, reload } = {}) {
  if (error.status === 409 && error.code === "version_conflict") {
    if (typeof error.body?.version === "number") state.version = error.body.version;
    toast(t("conflict_reloaded"), "warning");
    if (reload) reload();
    return;
  }
  if (error.status === 401) return; // sessionLost() has shown the login page
  const message = error.status === 403 && error.code === "csrf_failed" ? t("csrf_failed") : error.message;
  if (errorBox) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  } else {
    toast(message, "error");
  }
  if (form) highlightParam(form, error.param);
}

function errorBoxEl() {
  return h("div", { class: "form-error", role: "alert", hidden: true });
}

// ----------------------------------------------------------------------------------------- the shell

const TABS = [
  { id: "providers", label: "tab_providers", render: renderProviders },
  { id: "keys", label: "tab_keys", render: renderKeys },
  { id: "mappings", label: "tab_mappings", render: renderMappings },
  { id: "usage", label: "tab_usage", render: renderUsage },
  { id: "health", label: "tab_health", render: renderHealth },
  { id: "yaml", label: "tab_yaml", render: renderYaml },
  { id: "audit", label: "tab_audit", render: renderAudit },
];

function root() {
  return document.getElementById("app");
}

function languageSwitch() {
  const select = h("select", { class: "lang-select", "aria-label": t("language"), onchange: (e) => setLanguage(e.target.value) },
    h("option", { value: "en", text: "English" }),
    h("option", { value: "zh", text: "简体中文" }));
  select.value = lang;
  return select;
}

function brand() {
  return h("div", { class: "brand" },
    h("img", { src: "/admin/static/favicon.svg", alt: "", width: "28", height: "28" }),
    h("span", { class: "brand-name", text: "uni-gateway" }),
    h("span", { class: "brand-tag", text: t("admin") }));
}

function renderDisabled() {
  document.title = t("title_disabled");
  root().replaceChildren(h("div", { class: "center-page" },
    h("div", { class: "topright" }, languageSwitch()),
    h("main", { class: "card login-card" }, brand(),
      h("h1", { text: t("admin_disabled") }),
      h("p", { class: "muted", text: t("admin_disabled_help") }))));
}

function renderLogin(message) {
  document.title = t("title_login");
  state.session = null;
  const key = h("input", { type: "password", name: "key", autocomplete: "current-password", required: true, spellcheck: "false",
    "data-field": "key", placeholder: "sk-…" });
  const errorBox = errorBoxEl();
  const submit = h("button", { type: "submit", class: "btn btn-primary btn-block", text: t("sign_in") });
  const form = h("form", { class: "stack", novalidate: true }, field(t("admin_key"), key, { hint: t("admin_key_hint") }), errorBox, submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    clearInvalid(form);
    if (!key.value.trim()) {
      markInvalid(key);
      return;
    }
    submit.disabled = true;
    try {
      const answer = await api("POST", "/login", { key: key.value.trim() }, { quiet: true });
      setCsrf(answer.csrf_token);
      state.session = answer;
      renderApp();
    } catch (error) {
      const text = error.code === "too_many_attempts" ? t("too_many_attempts")
        : error.code === "invalid_admin_key" ? t("invalid_admin_key") : error.message;
      errorBox.textContent = text;
      errorBox.hidden = false;
      markInvalid(key);
    } finally {
      submit.disabled = false;
    }
  });
  root().replaceChildren(h("div", { class: "center-page" },
    h("div", { class: "topright" }, languageSwitch()),
    h("main", { class: "card login-card" }, brand(),
      h("h1", { text: t("sign_in_title") }),
      h("p", { class: "muted", text: t("sign_in_help") }),
      message ? h("p", { class: "notice", role: "status", text: message }) : null,
      form,
      state.status?.gateway_version ? h("p", { class: "muted small", text: `v${state.status.gateway_version}` }) : null)));
  key.focus();
}

async function logout() {
  try {
    await api("POST", "/logout", undefined, { quiet: true });
  } catch {
    // the session is gone either way: forget it here too
  }
  state.session = null;
  setCsrf(null);
  renderLogin(t("signed_out"));
}

function renderApp() {
  const current = TABS.find((tab) => `#${tab.id}` === location.hash) || TABS[0];
  const nav = h("nav", { class: "tabs", role: "tablist", "aria-label": t("sections") },
    TABS.map((tab) => h("button", {
      type: "button", role: "tab", id: `tab-${tab.id}`, "aria-controls": "panel", "data-tab": tab.id,
      "aria-selected": tab === current ? "true" : "false", tabindex: tab === current ? "0" : "-1",
      class: "tab", text: t(tab.label),
      onclick: () => {
        if (location.hash !== `#${tab.id}`) location.hash = tab.id;
        else showTab(tab);
      },
    })));
  nav.addEventListener("keydown", (event) => { // arrow keys move between tabs (the ARIA tabs pattern)
    if (!["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) return;
    const buttons = [...nav.querySelectorAll("[role=tab]")];
    let index = buttons.indexOf(document.activeElement);
    if (index < 0) return;
    index = event.key === "Home" ? 0 : event.key === "End" ? buttons.length - 1
      : (index + (event.key === "ArrowRight" ? 1 : -1) + buttons.length) % buttons.length;
    buttons[index].focus();
    buttons[index].click();
    event.preventDefault();
  });
  const who = state.session?.key_id ? h("span", { class: "who muted small", title: t("signed_in_as") }, `${t("key")} ${state.session.key_id}`) : null;
  const header = h("header", { class: "topbar" },
    h("div", { class: "topbar-inner" },
      brand(),
      h("div", { class: "topbar-actions" }, who, languageSwitch(),
        button(t("sign_out"), logout, "btn btn-ghost btn-sm", { id: "logout" }))),
    h("div", { class: "topbar-inner" }, nav));
  const main = h("main", { id: "panel", class: "content", role: "tabpanel", tabindex: "-1" });
  root().replaceChildren(header, main);
  showTab(current);
}

function showTab(tab) {
  state.tab = tab.id;
  document.title = `${t(tab.label)} · ${t("title_app")}`;
  for (const el of document.querySelectorAll("[role=tab]")) {
    const selected = el.dataset.tab === tab.id;
    el.setAttribute("aria-selected", selected ? "true" : "false");
    el.tabIndex = selected ? 0 : -1;
  }
  const main = document.getElementById("panel");
  if (!main) return;
  main.setAttribute("aria-labelledby", `tab-${tab.id}`);
  main.replaceChildren();
  tab.render(main).catch((error) => showLoadError(main, error, () => showTab(tab)));
}

function showLoadError(container, error, retry) {
  if (error.status === 401) return;
  container.replaceChildren(h("div", { class: "card" },
    h("p", { class: "form-error", role: "alert", text: `${t("load_failed")}: ${error.message}` }),
    button(t("retry"), retry, "btn")));
}

// Which page to show: the status decides whether there is an admin at all, the session whether we are in.
async function route() {
  document.documentElement.lang = locale();
  if (!state.status) {
    try {
      state.status = await api("GET", "/status");
    } catch (error) {
      root().replaceChildren(h("div", { class: "center-page" }, h("main", { class: "card login-card" }, brand(),
        h("p", { class: "form-error", role: "alert", text: `${t("load_failed")}: ${error.message}` }),
        button(t("retry"), () => route(), "btn"))));
      return;
    }
  }
  if (!state.status.admin_enabled) return renderDisabled();
  if (!state.session) {
    try {
      const session = await api("GET", "/session", undefined, { quiet: true });
      state.session = session;
      setCsrf(session.csrf_token);
    } catch (error) {
      if (error.status === 404) return renderDisabled();
      setCsrf(null);
      return renderLogin();
    }
  }
  renderApp();
}

window.addEventListener("hashchange", () => {
  const tab = TABS.find((x) => `#${x.id}` === location.hash);
  if (tab && state.session && document.getElementById("panel")) showTab(tab);
});

// ------------------------------------------------------------------------------------------ providers

function modelRows(models) {
  const rows = [];
  for (const entry of models || []) {
    if (typeof entry === "string") rows.push({ model: entry, alias: "" });
    else if (entry && typeof entry === "object") for (const [model, alias] of Object.entries(entry)) rows.push({ model, alias: String(alias ?? "") });
  }
  return rows;
}

function servedNames(provider) {
  return modelRows(provider.model).map((row) => row.alias || row.model);
}

function keyList(api) {
  if (api === undefined || api === null || api === "") return [];
  return Array.isArray(api) ? api.map(String) : [String(api)];
}

async function renderProviders(main) {
  const formSlot = h("div");
  const list = h("div", { class: "cards" }, loading());
  const addButton = button(t("add_provider"), () => openForm(null), "btn btn-primary", { id: "add-provider" });
  main.append(sectionHead(t("providers_title"), t("providers_hint"), [addButton]), formSlot, list);

  // A version conflict on an edit reopens the form on the provider as it is now (the admin sees what
  // changed); on a new provider the form stays as typed, now based on the current version.
  function openForm(provider) {
    formSlot.replaceChildren(providerForm(provider, {
      done: () => {
        formSlot.replaceChildren();
        load();
      },
      cancel: () => formSlot.replaceChildren(),
      conflict: async (name) => {
        await load();
        if (name === null) return;
        const fresh = state.providers.find((p) => p.provider === name);
        if (fresh) openForm(fresh);
        else formSlot.replaceChildren();
      },
    }));
    formSlot.querySelector("input")?.focus();
    formSlot.scrollIntoView({ block: "start", behavior: "smooth" });
  }

  async function load() {
    const data = await api("GET", "/providers");
    state.providers = data.providers || [];
    if (!state.providers.length) {
      list.replaceChildren(empty(t("no_providers")));
      return;
    }
    list.replaceChildren(...state.providers.map((provider) => providerCard(provider, { edit: openForm, reload: load })));
  }

  await load();
}

function providerCard(provider, { edit, reload }) {
  const models = servedNames(provider);
  const keys = keyList(provider.api);
  const result = h("div", { class: "test-result", "aria-live": "polite" });
  const testButton = button(t("test"), async () => {
    testButton.disabled = true;
    result.replaceChildren(h("span", { class: "muted", text: t("testing") }));
    try {
      const answer = await api("POST", `/providers/${encodeURIComponent(provider.provider)}/test`, {});
      const latency = `${Math.round(answer.latency_ms ?? 0)} ms`;
      result.replaceChildren(answer.ok
        ? h("span", { class: "ok" }, badge(t("test_ok"), "ok"), ` HTTP ${answer.status} · ${latency}`,
          answer.reply !== null && answer.reply !== undefined ? ` · ${t("reply")}: “${answer.reply}”` : "")
        : h("span", { class: "bad" }, badge(t("test_failed"), "bad"), ` ${answer.status ? `HTTP ${answer.status} · ` : ""}${latency}`,
          answer.error ? ` · ${answer.error}` : ""));
    } catch (error) {
      if (error.status !== 401) result.replaceChildren(h("span", { class: "bad" }, badge(t("test_failed"), "bad"), ` ${error.message}`));
    } finally {
      testButton.disabled = false;
    }
  }, "btn btn-sm", { "data-action": "test" });
  const remove = button(t("delete"), async () => {
    if (!(await confirmDialog(t("confirm_delete_provider", { name: provider.provider }), { confirmLabel: t("delete") }))) return;
    try {
      await api("DELETE", `/providers/${encodeURIComponent(provider.provider)}?version=${state.version}`);
      toast(t("provider_deleted", { name: provider.provider }), "success");
      reload();
    } catch (error) {
      writeFailed(error, { reload });
    }
  }, "btn btn-sm btn-danger-ghost", { "data-action": "delete" });
  const shown = models.slice(0, 12);
  return h("article", { class: "card provider-card", "data-provider": provider.provider },
    h("div", { class: "card-row" },
      h("div", { class: "card-title" },
        h("h3", { text: provider.provider }),
        badge(provider.engine_detected || provider.engine || t("auto"), "engine"),
        h("span", { class: "muted small", text: t("n_keys", { n: keys.length }) }),
        h("span", { class: "muted small", text: models.length ? t("n_models", { n: models.length }) : t("models_discovered") })),
      h("div", { class: "actions" }, testButton, button(t("edit"), () => edit(provider), "btn btn-sm", { "data-action": "edit" }), remove)),
    provider.upstream_url ? h("p", { class: "mono small url", title: provider.upstream_url, text: provider.upstream_url }) : null,
    shown.length ? h("div", { class: "chips" }, shown.map((name) => h("span", { class: "chip", text: name })),
      models.length > shown.length ? h("span", { class: "chip chip-more", text: t("n_more", { n: models.length - shown.length }) }) : null) : null,
    result);
}

function providerForm(existing, { done, cancel, conflict }) {
  const isNew = !existing;
  const original = existing || {};
  const errorBox = errorBoxEl();

  const name = h("input", { type: "text", required: true, "data-field": "provider", value: original.provider || "", autocomplete: "off",
    spellcheck: "false", placeholder: "openai" });
  const engine = h("select", { "data-field": "engine" },
    h("option", { value: "", text: t("engine_auto") }),
    ENGINES.map((e) => h("option", { value: e, text: e })));
  engine.value = original.engine && ENGINES.includes(original.engine) ? original.engine
    : original.engine === "azure-databricks" ? "databricks" : "";
  const baseUrl = h("input", { type: "url", "data-field": "base_url", value: original.base_url || "", autocomplete: "off", spellcheck: "false",
    placeholder: "https://api.openai.com/v1", inputmode: "url" });
  const preview = h("div", { class: "preview", "aria-live": "polite", id: nextId("preview") });
  baseUrl.setAttribute("aria-describedby", preview.id);

  // API keys as tags: stored keys come back masked ("…c0de") and are sent back as they are (= keep);
  // a new key typed in becomes a tag showing only its last four characters.
  const keys = keyList(original.api).map((value) => ({ value, fresh: false }));
  const tags = h("div", { class: "tags" });
  const keyInput = h("input", { type: "text", class: "tag-input", id: nextId("f"), autocomplete: "off", spellcheck: "false",
    placeholder: t("key_placeholder") });
  const keyBox = h("div", { class: "tag-box", "data-field": "api aws_secret_key private_key" }, tags, keyInput);
  keyBox.addEventListener("click", (event) => {
    if (event.target === keyBox || event.target === tags) keyInput.focus();
  });
  function drawTags() {
    tags.replaceChildren(...keys.map((key, index) => h("span", { class: key.fresh ? "tag tag-new" : "tag" },
      h("span", { class: "mono", text: key.fresh ? `…${key.value.slice(-4)}` : key.value }),
      key.fresh ? h("span", { class: "tag-note", text: t("new") }) : null,
      h("button", { type: "button", class: "tag-remove", "aria-label": t("remove_key", { key: key.fresh ? `…${key.value.slice(-4)}` : key.value }),
        onclick: () => { keys.splice(index, 1); drawTags(); keyInput.focus(); } }, "×"))));
  }
  function addKeys(text) {
    for (const piece of String(text).split(/[\s,]+/)) {
      const value = piece.trim();
      if (value && !keys.some((k) => k.value === value)) keys.push({ value, fresh: true });
    }
    keyInput.value = "";
    drawTags();
  }
  keyInput.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === ",") {
      event.preventDefault();
      addKeys(keyInput.value);
    } else if (event.key === "Backspace" && !keyInput.value && keys.length) {
      keys.pop();
      drawTags();
    }
  });
  keyInput.addEventListener("paste", (event) => {
    const text = event.clipboardData?.getData("text");
    if (text && /[\s,]/.test(text.trim())) {
      event.preventDefault();
      addKeys(text);
    }
  });
  keyInput.addEventListener("blur", () => keyInput.value.trim() && addKeys(keyInput.value));
  drawTags();

  // Models: upstream name -> optional alias, one row each.
  const rowsBox = h("div", { class: "model-rows", "data-field": "model" });
  function modelRow(row = { model: "", alias: "" }) {
    const upstream = h("input", { type: "text", value: row.model, placeholder: "gpt-4o", "aria-label": t("upstream_model"), class: "m-up",
      autocomplete: "off", spellcheck: "false" });
    const alias = h("input", { type: "text", value: row.alias, placeholder: t("alias_placeholder"), "aria-label": t("alias"), class: "m-alias",
      autocomplete: "off", spellcheck: "false" });
    const el = h("div", { class: "model-row" }, upstream, h("span", { class: "arrow", "aria-hidden": "true", text: "→" }), alias,
      h("button", { type: "button", class: "btn btn-sm btn-ghost icon", "aria-label": t("remove_model"), onclick: () => { el.remove(); syncChips(); } }, "×"));
    upstream.addEventListener("input", syncChips);
    return el;
  }
  for (const row of modelRows(original.model)) rowsBox.append(modelRow(row));
  function currentModels() {
    return [...rowsBox.querySelectorAll(".model-row")].map((el) => ({
      model: el.querySelector(".m-up").value.trim(), alias: el.querySelector(".m-alias").value.trim(),
    })).filter((row) => row.model);
  }

  const chips = h("div", { class: "chips fetched", "aria-live": "polite" });
  let fetched = [];
  function syncChips() {
    const have = new Set(currentModels().map((row) => row.model));
    for (const chip of chips.querySelectorAll("button.chip")) chip.setAttribute("aria-pressed", have.has(chip.dataset.model) ? "true" : "false");
  }
  function drawChips() {
    if (!fetched.length) return chips.replaceChildren(h("span", { class: "muted small", text: t("no_models_listed") }));
    chips.replaceChildren(
      h("span", { class: "muted small", text: t("pick_models") }),
      ...fetched.map((model) => h("button", { type: "button", class: "chip", "data-model": model, "aria-pressed": "false",
        onclick: () => toggleModel(model) }, model)),
      button(t("add_all"), () => { for (const m of fetched) if (!currentModels().some((r) => r.model === m)) rowsBox.append(modelRow({ model: m, alias: "" })); syncChips(); },
        "btn btn-sm btn-ghost"));
    syncChips();
  }
  function toggleModel(model) {
    const row = [...rowsBox.querySelectorAll(".model-row")].find((el) => el.querySelector(".m-up").value.trim() === model);
    if (row) row.remove();
    else rowsBox.append(modelRow({ model, alias: "" }));
    syncChips();
  }
  const fetchButton = button(t("fetch_models"), async () => {
    fetchButton.disabled = true;
    chips.replaceChildren(h("span", { class: "muted small", text: t("loading") }));
    try {
      const answer = await api("POST", "/providers/models", { provider: draft() });
      fetched = answer.models || [];
      drawChips();
    } catch (error) {
      if (error.status !== 401) chips.replaceChildren(h("span", { class: "bad small", role: "alert", text: `${t("fetch_failed")}: ${error.message}` }));
    } finally {
      fetchButton.disabled = false;
    }
  }, "btn btn-sm", { "data-action": "fetch-models" });

  // Every other field of the provider (preferences, tools, project_id, …), kept as JSON.
  const rest = {};
  for (const [key, value] of Object.entries(original)) if (!PROVIDER_FORM_FIELDS.has(key)) rest[key] = value;
  const advanced = h("textarea", { class: "mono", rows: "6", spellcheck: "false",
    "data-field": "advanced preferences tools project_id region client_email private_key cf_account_id aws_access_key notes",
    value: Object.keys(rest).length ? JSON.stringify(rest, null, 2) : "" , placeholder: '{"preferences": {"api_key_cooldown_period": 60}}' });

  function draft() {
    const provider = { provider: name.value.trim() };
    if (engine.value) provider.engine = ENGINE_SAVED_AS[engine.value] || engine.value;
    if (baseUrl.value.trim()) provider.base_url = baseUrl.value.trim();
    const values = keys.map((k) => k.value);
    if (values.length === 1) provider.api = values[0];
    else if (values.length > 1) provider.api = values;
    const models = currentModels().map((row) => (row.alias && row.alias !== row.model ? { [row.model]: row.alias } : row.model));
    if (models.length) provider.model = models;
    return provider;
  }

  // The live preview of where requests go: asked of the gateway (no network call upstream), debounced.
  let previewSeq = 0;
  const refreshPreview = debounce(async () => {
    const seq = ++previewSeq;
    if (!baseUrl.value.trim() && !engine.value) {
      preview.replaceChildren(h("span", { class: "muted", text: t("preview_empty") }));
      return;
    }
    try {
      const answer = await api("POST", "/providers/preview", { provider: { ...draft(), provider: draft().provider || "preview" } });
      if (seq !== previewSeq) return;
      preview.replaceChildren(
        h("span", { class: "muted", text: `${t("upstream_url")}: ` }), h("code", { class: "preview-url", text: answer.upstream_url || "—" }),
        h("span", { class: "muted", text: ` · ${t("engine")}: ` }), badge(answer.engine || "?", "engine"));
    } catch (error) {
      if (seq === previewSeq && error.status !== 401) preview.replaceChildren(h("span", { class: "bad", text: error.message }));
    }
  }, 300);
  baseUrl.addEventListener("input", refreshPreview);
  engine.addEventListener("change", refreshPreview);
  refreshPreview();

  // The vertex-express note only while that choice is made.
  const engineField = field(t("engine"), engine, { hint: t("engine_hint") });
  const engineHint = engineField.querySelector(".hint");
  const syncEngineHint = () => { engineHint.hidden = engine.value !== "vertex-express"; };
  engine.addEventListener("change", syncEngineHint);
  syncEngineHint();

  const save = h("button", { type: "submit", class: "btn btn-primary", text: isNew ? t("create_provider") : t("save_changes") });
  const form = h("form", { class: "card form", novalidate: true, "aria-label": isNew ? t("add_provider") : t("edit_provider") },
    h("h3", { text: isNew ? t("add_provider") : t("edit_provider_named", { name: original.provider }) }),
    h("div", { class: "grid" },
      field(t("name"), name),
      engineField,
      field(t("base_url"), baseUrl, { wide: true }),
      h("div", { class: "field wide" }, preview),
      h("div", { class: "field wide" }, h("label", { for: keyInput.id, text: t("api_keys") }), keyBox,
        h("p", { class: "hint", text: t("api_keys_hint") })),
      h("div", { class: "field wide" },
        h("div", { class: "field-head" }, h("span", { class: "label", text: t("models") }),
          h("div", { class: "actions" }, button(t("add_model"), () => { rowsBox.append(modelRow()); rowsBox.lastElementChild.querySelector("input").focus(); },
            "btn btn-sm", { "data-action": "add-model" }), fetchButton)),
        h("p", { class: "hint", text: t("models_hint") }),
        rowsBox, chips),
      h("details", { class: "field wide", open: Object.keys(rest).length ? true : null },
        h("summary", { text: t("advanced") }), field(t("advanced_json"), advanced, { hint: t("advanced_hint"), wide: true }))),
    errorBox,
    h("div", { class: "actions end" }, button(t("cancel"), cancel, "btn btn-ghost"), save));
  form.addEventListener("input", () => { clearInvalid(form); });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    clearInvalid(form);
    if (keyInput.value.trim()) addKeys(keyInput.value);
    const provider = draft();
    if (!provider.provider) {
      errorBox.textContent = t("name_required");
      errorBox.hidden = false;
      return markInvalid(name);
    }
    if (advanced.value.trim()) {
      let extra;
      try {
        extra = JSON.parse(advanced.value);
      } catch (exc) {
        errorBox.textContent = `${t("advanced_invalid")}: ${exc.message}`;
        errorBox.hidden = false;
        return markInvalid(advanced);
      }
      if (!extra || typeof extra !== "object" || Array.isArray(extra)) {
        errorBox.textContent = t("advanced_invalid");
        errorBox.hidden = false;
        return markInvalid(advanced);
      }
      for (const [key, value] of Object.entries(extra)) if (!PROVIDER_FORM_FIELDS.has(key)) provider[key] = value;
    }
    save.disabled = true;
    try {
      if (isNew) await api("POST", "/providers", { version: state.version, provider });
      else await api("PUT", `/providers/${encodeURIComponent(original.provider)}`, { version: state.version, provider });
      toast(t(isNew ? "provider_created" : "provider_saved", { name: provider.provider }), "success");
      done();
    } catch (error) {
      writeFailed(error, { form, errorBox, reload: () => conflict(isNew ? null : original.provider) });
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

// ------------------------------------------------------------------------------------------ keys

function ruleText(rule) {
  if (typeof rule === "string") return rule;
  return Object.entries(rule).map(([name, weight]) => `${name} = ${weight}`).join("\n");
}

function parseRules(text) {
  const rules = [];
  for (const line of text.split(/[\n,]+/)) {
    const item = line.trim();
    if (!item) continue;
    const weighted = item.match(/^(.+?)\s*=\s*(\d+)$/);
    rules.push(weighted ? { [weighted[1].trim()]: Number(weighted[2]) } : item);
  }
  return rules;
}

function keyLabel(key) {
  return key.name || key.api || key.id;
}

async function renderKeys(main) {
  const formSlot = h("div");
  const created = h("div");
  const list = h("div", {}, loading());
  main.append(sectionHead(t("keys_title"), t("keys_hint"), [button(t("create_key"), () => openForm(null), "btn btn-primary", { id: "create-key" })]),
    created, formSlot, list);

  function openForm(key) {
    formSlot.replaceChildren(keyForm(key, {
      done: (answer) => {
        formSlot.replaceChildren();
        if (answer?.key?.api && !key) showCreated(answer.key);
        load();
      },
      cancel: () => formSlot.replaceChildren(),
      // After a version conflict: an edit is closed (the list shows the key as it is now); a new key's
      // form stays as typed, now based on the current version.
      reload: () => {
        if (key) formSlot.replaceChildren();
        load();
      },
    }));
    formSlot.querySelector("input, select")?.focus();
  }

  function showCreated(key) {
    const input = h("input", { type: "text", readonly: true, class: "mono secret", value: key.api, "aria-label": t("new_key"), id: "new-key-value" });
    const copy = button(t("copy"), async () => {
      input.select();
      const ok = await copyText(key.api);
      copy.textContent = ok ? t("copied") : t("press_ctrl_c");
    }, "btn btn-primary", { id: "copy-key" });
    created.replaceChildren(h("section", { class: "card callout", "aria-labelledby": "new-key-title" },
      h("h3", { id: "new-key-title", text: t("new_key_title") }),
      h("p", { class: "warning", text: t("new_key_warning") }),
      h("div", { class: "copy-row" }, input, copy),
      h("div", { class: "actions end" }, button(t("done"), () => created.replaceChildren(), "btn btn-ghost"))));
    input.focus();
    input.select();
  }

  async function load() {
    const data = await api("GET", "/keys");
    const keys = data.keys || [];
    if (!keys.length) {
      list.replaceChildren(empty(t("no_keys")));
      return;
    }
    const named = keys.some((key) => key.name); // the Name column only when some key has one
    list.replaceChildren(table([named ? t("name") : null, t("key"), t("role"), t("allowed_models"), t("scheduling"), t("rate_limit"), ""]
      .filter((x) => x !== null), keys.map((key) => {
      const prefs = key.preferences || {};
      const rules = key.model || [];
      const limit = prefs.RATE_LIMIT ?? prefs.rate_limit;
      return h("tr", { "data-key-id": key.id },
        named ? cell(key.name ? h("strong", { text: key.name }) : h("span", { class: "muted", text: "—" })) : null,
        cell(h("span", { class: "mono", title: key.id, text: key.api })),
        cell(badge(key.role === "admin" ? t("role_admin") : t("role_user"), key.role === "admin" ? "warn" : "neutral")),
        cell(rules.length ? h("div", { class: "chips" }, rules.map((rule) => h("span", { class: "chip", text: ruleText(rule).replace("\n", ", ") })))
          : h("span", { class: "muted", text: t("all_models") })),
        cell(prefs.SCHEDULING_ALGORITHM || h("span", { class: "muted", text: "fixed_priority" })),
        cell(limit ? (typeof limit === "string" ? limit : JSON.stringify(limit)) : h("span", { class: "muted", text: "—" })),
        cell(h("div", { class: "actions nowrap" },
          button(t("edit"), () => openForm(key), "btn btn-sm", { "data-action": "edit" }),
          button(t("revoke"), async () => {
            if (!(await confirmDialog(t("confirm_revoke", { name: keyLabel(key) }), { confirmLabel: t("revoke") }))) return;
            try {
              await api("DELETE", `/keys/${encodeURIComponent(key.id)}?version=${state.version}`);
              toast(t("key_revoked", { name: keyLabel(key) }), "success");
              load();
            } catch (error) {
              writeFailed(error, { reload: load });
            }
          }, "btn btn-sm btn-danger-ghost", { "data-action": "revoke" }))));
    })));
  }

  await load();
}

function keyForm(existing, { done, cancel, reload }) {
  const isNew = !existing;
  const prefs = { ...(existing?.preferences || {}) };
  const errorBox = errorBoxEl();
  const name = h("input", { type: "text", "data-field": "name", value: existing?.name || "", autocomplete: "off", placeholder: t("key_name_placeholder") });
  const role = h("select", { "data-field": "role" }, h("option", { value: "user", text: t("role_user") }), h("option", { value: "admin", text: t("role_admin") }));
  role.value = existing?.role || "user";
  const models = h("textarea", { rows: "4", class: "mono", spellcheck: "false", "data-field": "model",
    value: (existing?.model || []).map(ruleText).join("\n"), placeholder: "gpt-4o\nclaude-sonnet\ngemini/*" });
  const algorithm = h("select", { "data-field": "SCHEDULING_ALGORITHM scheduling_algorithm" }, ALGORITHMS.map((a) => h("option", { value: a, text: a })));
  algorithm.value = prefs.SCHEDULING_ALGORITHM || "fixed_priority";
  const limitValue = prefs.RATE_LIMIT ?? prefs.rate_limit;
  const limitEditable = limitValue === undefined || limitValue === null || typeof limitValue === "string";
  const rate = h("input", { type: "text", "data-field": "RATE_LIMIT rate_limit", value: limitEditable ? limitValue || "" : JSON.stringify(limitValue),
    disabled: limitEditable ? null : true, placeholder: "60/min,1000/day", autocomplete: "off", spellcheck: "false" });
  const save = h("button", { type: "submit", class: "btn btn-primary", text: isNew ? t("create_key") : t("save_changes") });
  const form = h("form", { class: "card form", novalidate: true },
    h("h3", { text: isNew ? t("create_key") : t("edit_key_named", { name: keyLabel(existing) }) }),
    h("div", { class: "grid" },
      field(t("name"), name, { hint: t("key_name_hint") }),
      field(t("role"), role, { hint: t("role_hint") }),
      field(t("allowed_models"), models, { hint: t("allowed_models_hint"), wide: true }),
      field(t("scheduling"), algorithm, { hint: t("scheduling_hint") }),
      field(t("rate_limit"), rate, { hint: limitEditable ? t("rate_limit_hint") : t("rate_limit_yaml") })),
    errorBox,
    h("div", { class: "actions end" }, button(t("cancel"), cancel, "btn btn-ghost"), save));
  form.addEventListener("input", () => clearInvalid(form));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    clearInvalid(form);
    const key = {};
    if (name.value.trim()) key.name = name.value.trim();
    key.role = role.value;
    const rules = parseRules(models.value);
    if (rules.length) key.model = rules;
    const preferences = { ...prefs, SCHEDULING_ALGORITHM: algorithm.value };
    if (limitEditable) {
      delete preferences.rate_limit;
      if (rate.value.trim()) preferences.RATE_LIMIT = rate.value.trim();
      else delete preferences.RATE_LIMIT;
    }
    key.preferences = preferences;
    save.disabled = true;
    try {
      const answer = isNew ? await api("POST", "/keys", { version: state.version, key })
        : await api("PUT", `/keys/${encodeURIComponent(existing.id)}`, { version: state.version, key });
      toast(isNew ? t("key_created") : t("key_saved"), "success");
      done(answer);
    } catch (error) {
      writeFailed(error, { form, errorBox, reload });
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

// ------------------------------------------------------------------------------------------ mappings

async function renderMappings(main) {
  const formSlot = h("div");
  const list = h("div", { class: "cards" }, loading());
  main.append(sectionHead(t("mappings_title"), t("mappings_hint"), [button(t("add_mapping"), () => openForm(null, {}), "btn btn-primary", { id: "add-mapping" })]),
    formSlot, list);

  function openForm(name, targets) {
    formSlot.replaceChildren(mappingForm(name, targets, {
      done: () => { formSlot.replaceChildren(); load(); },
      cancel: () => formSlot.replaceChildren(),
      reload: () => load(), // the form stays as typed (a mapping is replaced whole), the list shows the current state
    }));
    formSlot.querySelector("input")?.focus();
  }

  async function load() {
    const [mapped, providers] = await Promise.all([api("GET", "/mappings"), api("GET", "/providers")]);
    state.providers = providers.providers || [];
    const entries = Object.entries(mapped.mappings || {});
    if (!entries.length) {
      list.replaceChildren(empty(t("no_mappings")));
      return;
    }
    list.replaceChildren(...entries.map(([name, targets]) => h("article", { class: "card", "data-mapping": name },
      h("div", { class: "card-row" },
        h("div", { class: "card-title" }, h("h3", { class: "mono", text: name }),
          h("span", { class: "muted small", text: t("n_targets", { n: Object.keys(targets).length }) })),
        h("div", { class: "actions" },
          button(t("edit"), () => openForm(name, targets), "btn btn-sm"),
          button(t("delete"), async () => {
            if (!(await confirmDialog(t("confirm_delete_mapping", { name }), { confirmLabel: t("delete") }))) return;
            try {
              await api("DELETE", `/mappings/${encodeURIComponent(name)}?version=${state.version}`);
              toast(t("mapping_deleted", { name }), "success");
              load();
            } catch (error) {
              writeFailed(error, { reload: load });
            }
          }, "btn btn-sm btn-danger-ghost"))),
      h("ul", { class: "targets" }, Object.entries(targets).map(([provider, model]) => h("li", {},
        h("span", { class: "target-provider", text: provider }), h("span", { class: "arrow", "aria-hidden": "true", text: "→" }),
        h("span", { class: "mono", text: model })))))));
  }

  await load();
}

function mappingForm(existingName, targets, { done, cancel, reload }) {
  const isNew = existingName === null;
  const errorBox = errorBoxEl();
  const name = h("input", { type: "text", "data-field": "name", value: existingName || "", readonly: isNew ? null : true, placeholder: "gpt-4",
    autocomplete: "off", spellcheck: "false" });
  const rows = h("div", { class: "model-rows", "data-field": "targets" });
  const listId = nextId("models");
  const datalists = h("div");
  for (const provider of state.providers) {
    const names = new Set([...modelRows(provider.model).map((r) => r.model), ...servedNames(provider)]);
    datalists.append(h("datalist", { id: `${listId}-${provider.provider}` }, [...names].map((n) => h("option", { value: n }))));
  }
  function row(provider = "", model = "") {
    const select = h("select", { "aria-label": t("provider"), class: "t-provider", "data-field": provider || null },
      h("option", { value: "", text: t("choose_provider") }),
      state.providers.map((p) => h("option", { value: p.provider, text: p.provider })));
    if (provider && !state.providers.some((p) => p.provider === provider)) select.append(h("option", { value: provider, text: provider }));
    select.value = provider;
    const input = h("input", { type: "text", class: "t-model", value: model, "aria-label": t("upstream_model"), placeholder: "gpt-4o",
      list: provider ? `${listId}-${provider}` : null, autocomplete: "off", spellcheck: "false" });
    select.addEventListener("change", () => {
      input.setAttribute("list", `${listId}-${select.value}`);
      select.dataset.field = select.value;
    });
    const el = h("div", { class: "model-row" }, select, h("span", { class: "arrow", "aria-hidden": "true", text: "→" }), input,
      h("button", { type: "button", class: "btn btn-sm btn-ghost icon", "aria-label": t("remove_target"), onclick: () => el.remove() }, "×"));
    return el;
  }
  const entries = Object.entries(targets || {});
  if (!entries.length) entries.push(["", ""]);
  for (const [provider, model] of entries) rows.append(row(provider, model));
  const save = h("button", { type: "submit", class: "btn btn-primary", text: isNew ? t("add_mapping") : t("save_changes") });
  const form = h("form", { class: "card form", novalidate: true },
    h("h3", { text: isNew ? t("add_mapping") : t("edit_mapping_named", { name: existingName }) }),
    h("div", { class: "grid" },
      field(t("unified_name"), name, { hint: t("unified_name_hint") }),
      h("div", { class: "field wide" },
        h("div", { class: "field-head" }, h("span", { class: "label", text: t("targets") }),
          button(t("add_target"), () => rows.append(row()), "btn btn-sm")),
        h("p", { class: "hint", text: t("targets_hint") }),
        rows, datalists)),
    errorBox,
    h("div", { class: "actions end" }, button(t("cancel"), cancel, "btn btn-ghost"), save));
  form.addEventListener("input", () => clearInvalid(form));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorBox.hidden = true;
    clearInvalid(form);
    const unified = name.value.trim();
    if (!unified) {
      errorBox.textContent = t("name_required");
      errorBox.hidden = false;
      return markInvalid(name);
    }
    const out = {};
    for (const el of rows.querySelectorAll(".model-row")) {
      const provider = el.querySelector(".t-provider").value;
      const model = el.querySelector(".t-model").value.trim();
      if (provider && model) out[provider] = model;
    }
    if (!Object.keys(out).length) {
      errorBox.textContent = t("targets_required");
      errorBox.hidden = false;
      return markInvalid(rows);
    }
    save.disabled = true;
    try {
      await api("PUT", `/mappings/${encodeURIComponent(unified)}`, { version: state.version, targets: out });
      toast(t("mapping_saved", { name: unified }), "success");
      done();
    } catch (error) {
      writeFailed(error, { form, errorBox, reload });
    } finally {
      save.disabled = false;
    }
  });
  return form;
}

// ------------------------------------------------------------------------------------------ usage

async function renderUsage(main) {
  const days = h("select", { id: "usage-days" }, [1, 7, 14, 30, 90].map((n) => h("option", { value: String(n), text: t("last_n_days", { n }) })));
  days.value = sessionStorage.getItem("gw_admin_days") || "7";
  const stackBy = h("select", { id: "usage-stack" }, ["model", "provider", "key"].map((k) => h("option", { value: k, text: t(`by_${k}`) })));
  stackBy.value = sessionStorage.getItem("gw_admin_stack") || "model";
  const body = h("div", {}, loading());
  main.append(sectionHead(t("usage_title"), t("usage_hint"), [
    h("label", { class: "inline-label" }, h("span", { text: t("period") }), days),
    h("label", { class: "inline-label" }, h("span", { text: t("stack_by") }), stackBy),
  ]), body);
  let data = null;

  async function load() {
    sessionStorage.setItem("gw_admin_days", days.value);
    body.replaceChildren(loading());
    data = await api("GET", `/usage?days=${encodeURIComponent(days.value)}`);
    draw();
  }

  function draw() {
    sessionStorage.setItem("gw_admin_stack", stackBy.value);
    const rows = data.rows || [];
    const total = (k) => rows.reduce((sum, r) => sum + (r[k] || 0), 0);
    const stats = h("div", { class: "stats" },
      stat(t("requests"), fmtNumber(total("requests"))),
      stat(t("prompt_tokens"), fmtNumber(total("prompt_tokens"))),
      stat(t("completion_tokens"), fmtNumber(total("completion_tokens"))));
    const sorted = [...rows].sort((a, b) => (a.day < b.day ? 1 : a.day > b.day ? -1 : b.requests - a.requests));
    const tableEl = rows.length ? table([t("day"), t("key"), t("model"), t("provider"), t("requests"), t("prompt_tokens"), t("completion_tokens")],
      sorted.map((r) => h("tr", {},
        cell(r.day, "nowrap"), cell(h("span", { title: r.key_id, text: r.key_name || r.key_id })), cell(r.model, "mono"), cell(r.provider ?? "—"),
        cell(fmtNumber(r.requests), "num"), cell(fmtNumber(r.prompt_tokens), "num"), cell(fmtNumber(r.completion_tokens), "num"))),
      { numeric: [4, 5, 6] }) : empty(t("no_usage"));
    body.replaceChildren(stats, h("section", { class: "card" }, h("h3", { text: t("requests_per_day") }),
      usageChart(data.days || [], rows, stackBy.value, body.clientWidth)), tableEl);
  }

  days.addEventListener("change", () => load().catch((error) => showLoadError(body, error, load)));
  stackBy.addEventListener("change", () => data && draw());
  await load();
}

function stat(label, value) {
  return h("div", { class: "stat card" }, h("div", { class: "stat-label", text: label }), h("div", { class: "stat-value", text: value }));
}

// A round step for at most five grid lines over 0..value (whole numbers: these are request counts).
function niceScale(value) {
  const raw = Math.max(1, value) / 5;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) || 10 * power);
  return { step, max: step * Math.max(1, Math.ceil(value / step)) };
}

// Stacked bars, one per day, drawn as SVG. The viewBox is as wide as the card is at drawing time, so text
// keeps its size; the drawing still scales if the window is resized later.
function usageChart(days, rows, groupBy, available) {
  const keyOf = (r) => (groupBy === "provider" ? r.provider : groupBy === "key" ? r.key_name || r.key_id : r.model);
  const groupTotals = new Map();
  for (const r of rows) groupTotals.set(keyOf(r), (groupTotals.get(keyOf(r)) || 0) + r.requests);
  const groups = [...groupTotals.entries()].sort((a, b) => b[1] - a[1]).map(([g]) => g);
  const color = new Map(groups.map((g, i) => [g, PALETTE[i % PALETTE.length]]));
  const perDay = new Map(days.map((d) => [d, new Map()]));
  for (const r of rows) {
    if (!perDay.has(r.day)) perDay.set(r.day, new Map());
    const m = perDay.get(r.day);
    m.set(keyOf(r), (m.get(keyOf(r)) || 0) + r.requests);
  }
  const dayList = [...perDay.keys()].sort();
  const { step, max } = niceScale(Math.max(0, ...dayList.map((d) => [...perDay.get(d).values()].reduce((a, b) => a + b, 0))));
  const W = Math.round(Math.max(300, Math.min(1400, (available || 720) - 44)));
  const H = W < 500 ? 200 : 260, left = 48, right = 8, top = 10, bottom = 28;
  const plotW = W - left - right, plotH = H - top - bottom;
  const slot = plotW / Math.max(1, dayList.length);
  const barW = Math.max(2, Math.min(48, slot * 0.7));
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-label": t("chart_label", { n: dayList.length }) });
  for (let value = 0; value <= max; value += step) {
    const y = top + plotH - (value / max) * plotH;
    chart.append(svg("line", { x1: left, x2: W - right, y1: y, y2: y, class: value ? "grid" : "axis" }),
      svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", class: "tick" }, fmtNumber(value)));
  }
  const labelEvery = Math.ceil(dayList.length / Math.max(2, Math.floor(plotW / 56)));
  dayList.forEach((day, i) => {
    const x = left + slot * i + (slot - barW) / 2;
    let y = top + plotH;
    const stack = perDay.get(day);
    const dayTotal = [...stack.values()].reduce((a, b) => a + b, 0);
    for (const g of groups) {
      const n = stack.get(g) || 0;
      if (!n) continue;
      const height = (n / max) * plotH;
      y -= height;
      chart.append(svg("rect", { x, y, width: barW, height: Math.max(0.5, height), fill: color.get(g), rx: 1 },
        svg("title", {}, `${day} · ${g}: ${fmtNumber(n)}`)));
    }
    if (!dayTotal) chart.append(svg("rect", { x, y: top + plotH - 1, width: barW, height: 1, class: "zero" }));
    if (i % labelEvery === 0) chart.append(svg("text", { x: x + barW / 2, y: H - 8, "text-anchor": "middle", class: "tick" }, day.slice(5)));
  });
  const legend = h("ul", { class: "legend" }, groups.map((g) => h("li", {},
    svg("svg", { width: 12, height: 12, "aria-hidden": "true" }, svg("rect", { width: 12, height: 12, rx: 3, fill: color.get(g) })),
    h("span", { text: `${g} (${fmtNumber(groupTotals.get(g))})` }))));
  return h("div", { class: "chart-box" }, chart, groups.length ? legend : null);
}

// ------------------------------------------------------------------------------------------ health

async function renderHealth(main) {
  const body = h("div", {}, loading());
  const stamp = h("span", { class: "muted small", "aria-live": "polite" });
  const refresh = button(t("refresh"), () => load().catch((error) => showLoadError(body, error, load)), "btn", { id: "health-refresh" });
  main.append(sectionHead(t("health_title"), t("health_hint"), [stamp, refresh]), body);

  async function load() {
    refresh.disabled = true;
    try {
      const data = await api("GET", "/health");
      stamp.textContent = t("updated_at", { time: new Date().toLocaleTimeString(locale()) });
      const channels = data.channels || [];
      const cooling = channels.filter((c) => c.cooldown_seconds > 0).length;
      const badKeys = channels.reduce((n, c) => n + (c.keys || []).filter((k) => k.rejected || k.cooldown_seconds > 0).length, 0);
      body.replaceChildren(
        h("div", { class: "stats" },
          stat(t("channels"), fmtNumber(channels.length)),
          stat(t("channels_cooling"), fmtNumber(cooling)),
          stat(t("keys_unavailable"), fmtNumber(badKeys))),
        h("h3", { class: "sub", text: t("channels") }),
        channels.length ? table([t("channel"), t("provider"), t("model"), t("status"), t("provider_keys")], channels.map((c) => h("tr", {},
          cell(c.id, "mono"), cell(c.provider), cell(c.model, "mono"),
          cell(c.cooldown_seconds > 0 ? badge(t("cooling_for", { s: Math.ceil(c.cooldown_seconds) }), "warn") : badge(t("ready"), "ok")),
          cell(h("div", { class: "chips" }, (c.keys || []).map((k) => h("span", {
            class: `chip ${k.rejected ? "chip-bad" : k.cooldown_seconds > 0 ? "chip-warn" : ""}`,
            title: k.id,
            text: `${k.masked}${k.rejected ? ` · ${t("rejected")}` : k.cooldown_seconds > 0 ? ` · ${t("cooling_for", { s: Math.ceil(k.cooldown_seconds) })}` : ""}`,
          }))))))) : empty(t("no_channels")),
        h("h3", { class: "sub", text: t("recent_failures") }),
        (data.recent_failures || []).length ? table([t("time"), t("channel"), t("credential"), t("status"), t("reason")],
          data.recent_failures.map((f) => h("tr", {},
            cell(fmtTime(f.at), "nowrap"), cell(f.channel, "mono"), cell(f.credential, "mono"),
            cell(badge(String(f.status ?? "—"), "bad")), cell(f.reason, "wrap")))) : empty(t("no_failures")));
    } finally {
      refresh.disabled = false;
    }
  }

  await load();
}

// ------------------------------------------------------------------------------------------ audit

async function renderAudit(main) {
  const limit = h("select", { id: "audit-limit" }, [50, 200, 1000].map((n) => h("option", { value: String(n), text: t("last_n_entries", { n }) })));
  const body = h("div", {}, loading());
  main.append(sectionHead(t("audit_title"), t("audit_hint"), [h("label", { class: "inline-label" }, h("span", { text: t("show") }), limit)]), body);

  async function load() {
    const data = await api("GET", `/audit?limit=${limit.value}`);
    const entries = data.entries || [];
    body.replaceChildren(entries.length ? table([t("time"), t("admin_key_id"), t("action"), t("target"), t("version"), t("changes")],
      entries.map((e) => h("tr", {},
        cell(fmtTime(e.at), "nowrap"), cell(e.key_id || "—", "mono"), cell(badge(e.action, "neutral")), cell(e.target ?? "—", "mono"),
        cell(e.version ?? "—", "num"),
        cell((e.changes || []).length ? h("ul", { class: "changes" }, e.changes.map((c) => h("li", {},
          h("span", { class: "mono", text: c.path }), ": ",
          h("span", { class: "old", text: showValue(c.old) }), " → ", h("span", { class: "new", text: showValue(c.new) })))) : "—", "wrap"))))
      : empty(t("no_audit")));
  }

  limit.addEventListener("change", () => load().catch((error) => showLoadError(body, error, load)));
  await load();
}

function showValue(value) {
  if (value === undefined || value === null) return "∅";
  return typeof value === "string" ? value : JSON.stringify(value);
}

// ------------------------------------------------------------------------------------------ YAML

async function renderYaml(main) {
  const meta = h("p", { class: "muted small", "aria-live": "polite" });
  const text = h("textarea", { id: "yaml-text", class: "mono yaml", rows: "24", spellcheck: "false", "aria-label": t("yaml_label"),
    autocomplete: "off", wrap: "off" });
  const result = h("div", { class: "yaml-result", "aria-live": "polite" });
  const file = h("input", { type: "file", accept: ".yaml,.yml,.json,text/yaml,application/yaml", class: "visually-hidden", id: "yaml-file" });
  file.addEventListener("change", async () => {
    const picked = file.files?.[0];
    if (!picked) return;
    text.value = await picked.text();
    file.value = "";
    result.replaceChildren(h("p", { class: "notice", text: t("yaml_loaded_file", { name: picked.name }) }));
  });
  const busy = async (btn, fn) => {
    btn.disabled = true;
    try {
      await fn();
    } finally {
      btn.disabled = false;
    }
  };
  const validate = button(t("validate"), () => busy(validate, async () => {
    try {
      const answer = await api("POST", "/config/validate", text.value, { yaml: true });
      showValidation(answer);
    } catch (error) {
      if (error.status !== 401) showErrors(error.message, []);
    }
  }), "btn", { id: "yaml-validate" });
  const save = button(t("save"), () => busy(save, async () => {
    try {
      await api("PUT", `/config.yaml?version=${state.version}`, text.value, { yaml: true });
      toast(t("yaml_saved", { version: state.version }), "success");
      await load();
      result.replaceChildren(h("p", { class: "ok", role: "status", text: t("yaml_saved", { version: state.version }) }));
    } catch (error) {
      if (error.status === 409 && error.code === "version_conflict") return writeFailed(error, { reload: load });
      if (error.status === 401) return;
      showErrors(error.message, error.param ? [{ path: error.param, message: error.message }] : []);
    }
  }), "btn btn-primary", { id: "yaml-save" });
  const download = button(t("download"), () => {
    const url = URL.createObjectURL(new Blob([text.value], { type: "text/yaml" }));
    const a = h("a", { href: url, download: "api.yaml" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }, "btn");
  const upload = h("label", { for: file.id, class: "btn", role: "button", tabindex: "0" }, t("upload"));
  upload.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      file.click();
    }
  });
  const reloadButton = button(t("reload"), () => busy(reloadButton, load), "btn btn-ghost");
  const reimport = button(t("reimport"), () => busy(reimport, async () => {
    if (!(await confirmDialog(t("confirm_reimport"), { confirmLabel: t("reimport") }))) return;
    try {
      await api("POST", "/config/reimport", { version: state.version });
      toast(t("reimported"), "success");
      await load();
    } catch (error) {
      if (error.code === "no_file_config") toast(t("no_file_config"), "error");
      else writeFailed(error, { reload: load });
    }
  }), "btn btn-ghost", { id: "yaml-reimport" });

  function showValidation(answer) {
    if (answer.ok) result.replaceChildren(h("p", { class: "ok", role: "status" }, badge(t("valid"), "ok"), ` ${t("yaml_valid")}`));
    else showErrors(t("yaml_invalid"), answer.errors || []);
  }
  function showErrors(title, errors) {
    result.replaceChildren(h("div", { class: "form-error", role: "alert" },
      h("strong", { text: title }),
      errors.length ? h("ul", { class: "errors" }, errors.map((e) => h("li", {},
        e.path ? h("code", { text: e.path }) : null, e.path ? " — " : "", e.message))) : null));
  }

  async function load() {
    const [yaml, config] = await Promise.all([api("GET", "/config.yaml", undefined, { text: true }), api("GET", "/config")]);
    text.value = yaml.text;
    const version = Number(yaml.headers.get("x-config-version") || config.version);
    if (!Number.isNaN(version)) state.version = version;
    meta.textContent = t("yaml_meta", { version: state.version, source: config.source || "—", time: fmtTime(config.updated_at),
      who: config.updated_by || "—" });
  }

  main.append(
    sectionHead(t("yaml_title"), t("yaml_hint"), []),
    h("section", { class: "card" }, meta, text,
      h("div", { class: "actions toolbar" }, validate, save, download, upload, file, reloadButton, reimport), result));
  await load();
}

// ------------------------------------------------------------------------------------------ start

route();
