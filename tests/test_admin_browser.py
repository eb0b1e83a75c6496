"""The admin panel in a real browser against a real gateway: headless Chromium drives the page served at ``/``.

The gateway runs as its own process (``python main.py``, production mode, ``ADMIN_API_KEY`` set to a
random key, the embedded store) with a config that has one gateway key and no provider; a fake OpenAI
upstream stands in for the provider the test adds. Everything the admin does goes through the page,
under the page's real Content-Security-Policy (an inline script or style, or an ``eval``, would show up
as a console error and fail the test); what clients see is checked through the OpenAI SDK:

* sign in (a wrong key is refused, the admin key is accepted);
* add a provider pointing at the fake upstream (live URL preview, key as a tag, models fetched from the
  upstream and picked as chips), test it from its card, then list and chat with its model;
* a write based on an old version gets the "changed by someone else" reload; a 400 marks the field;
* a model mapping made in the Mappings tab is served;
* create a gateway key (shown once), use it, revoke it in the Keys tab: it then gets 401;
* the YAML, Usage, Health and Audit tabs show what happened, secrets masked;
* sign out: the old session cookie gets 401 from the admin API;
* at 375 px wide no tab overflows the page horizontally; a zh-CN browser gets Chinese, a manual switch
  to English is remembered; a gateway without any admin key shows "admin disabled".

What it needs, all installed by ./test.sh: Debian's ``chromium`` (driven through Playwright's Python
package with ``executable_path``) and the Python packages of requirements-dev.txt. A missing piece fails
the test: it is never skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect, sync_playwright

from tests.builders import UPSTREAM_KEY, config, gateway_key
from tests.door_process import GATEWAY_VARS, ServerProcess
from tests.fakes.openai_fake import FakeOpenAI

ADMIN_KEY = "sk-panel-admin-" + secrets.token_hex(12)
USER_KEY = "sk-panel-user-" + secrets.token_hex(12)
PROVIDER = "panel-up"
MODELS = ("panel-model", "panel-other")  # what the fake upstream lists at /v1/models
ASKED = "hello from the panel test"
TIMEOUT_MS = 15_000
PHONE = {"width": 375, "height": 812}
TABS = ("providers", "keys", "mappings", "usage", "health", "yaml", "audit")
# Chromium logs every answer >= 400 a fetch receives; these are the ones the steps below cause on purpose.
EXPECTED_STATUSES = {400, 401, 409}

expect.set_options(timeout=TIMEOUT_MS)


def key_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def gateway_env(**extra: str) -> dict[str, str]:
    """This environment without any gateway setting a shell or CI may carry, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in GATEWAY_VARS}
    env.update(PYTHONUNBUFFERED="1", ENVIRONMENT="production", **extra)
    return env


def start_gateway(env: dict[str, str]) -> ServerProcess:
    server = ServerProcess([sys.executable, "main.py"], env)
    server.env["PORT"] = str(server.port)
    server.env["HOST"] = "127.0.0.1"
    return server.start()


@pytest.fixture(scope="module")
def upstream(module_fake_factory) -> FakeOpenAI:
    return module_fake_factory(PROVIDER, models=MODELS)


@pytest.fixture(scope="module")
def gateway(upstream: FakeOpenAI) -> Iterator[ServerProcess]:
    """``main.py`` with one gateway key and no provider: the panel adds the provider."""
    server = start_gateway(gateway_env(ADMIN_API_KEY=ADMIN_KEY, CONFIG_YAML=json.dumps(config(keys=[gateway_key(USER_KEY)]))))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is not installed: run ./test.sh (it installs it with apt-get)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield launched
        launched.close()


class Session:
    """One browser context on the panel, with the console's error lines it collected."""

    def __init__(self, browser: Browser, url: str, **context: Any) -> None:
        self.url = url
        self.context: BrowserContext = browser.new_context(**context)
        self.page: Page = self.context.new_page()
        self.console: list[str] = []
        self.page.on("console", self._keep)
        self.page.on("pageerror", lambda exc: self.console.append(f"page error: {exc}"))

    def _keep(self, message: ConsoleMessage) -> None:
        if message.type in ("error", "warning"):
            self.console.append(message.text)

    def unexpected_console(self) -> list[str]:
        """Console errors other than the HTTP statuses the steps provoke (a CSP violation is one)."""
        allowed = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")
        return [line for line in self.console if not ((m := allowed.match(line)) and int(m[1]) in EXPECTED_STATUSES)]

    def open(self) -> Page:
        self.page.goto(self.url + "/")
        return self.page

    def sign_in(self, key: str = ADMIN_KEY) -> Page:
        """Sign in on the open login page; a refusal fails at once with the page's message."""
        page = self.page
        page.fill("input[name=key]", key)
        page.click("form button[type=submit]")
        tabs, refused = page.locator("[role=tablist]"), page.locator(".form-error:not([hidden])")
        expect(tabs.or_(refused)).to_be_visible()
        if refused.count():
            pytest.fail(f"sign-in refused: {refused.inner_text()}")
        return page

    def tab(self, name: str) -> Page:
        self.page.click(f"[data-tab={name}]")
        expect(self.page.locator(f"[data-tab={name}]")).to_have_attribute("aria-selected", "true")
        expect(self.page.locator("#panel .loading")).to_have_count(0)
        return self.page

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def admin(browser: Browser, gateway: ServerProcess) -> Iterator[Session]:
    """The admin's browser, signed in, shared by the steps below in order (each continues where the last
    stopped). A sign-in that fails here fails every step at once (pytest keeps a module fixture's error)."""
    session = Session(browser, gateway.url, viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        session.open()
        session.sign_in()
        yield session
    finally:
        session.close()


def sdk(gateway: ServerProcess, key: str = USER_KEY) -> openai.OpenAI:
    return openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0, timeout=30)


def admin_api(gateway: ServerProcess, method: str, path: str, **kw: Any) -> httpx.Response:
    """The admin API as a script calls it (Bearer admin key, no cookie, no CSRF token)."""
    return httpx.request(method, f"{gateway.url}/admin/api{path}", headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=30, **kw)


def confirm(page: Page) -> None:
    dialog = page.locator("dialog[open]")
    expect(dialog).to_be_visible()
    dialog.locator("[data-confirm]").click()
    expect(dialog).to_have_count(0)


# -- the admin's session, step by step -------------------------------------------------------------------------------

def test_page_is_served_with_its_security_headers(gateway):
    answer = httpx.get(gateway.url + "/", headers={"accept": "text/html"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-frame-options"] == "DENY" and answer.headers["cache-control"] == "no-store"
    script = httpx.get(gateway.url + "/admin/static/app.js")
    assert script.status_code == 200 and script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert httpx.get(gateway.url + "/admin/static/..%2Fpanel.py").status_code == 404


def test_sign_in_refuses_a_user_key_and_accepts_the_admin_key(browser, gateway):
    visitor = Session(browser, gateway.url, locale="en-US")
    try:
        page = visitor.open()
        expect(page.locator("h1")).to_have_text("Sign in to the admin panel")
        page.fill("input[name=key]", USER_KEY)
        page.click("form button[type=submit]")
        expect(page.locator(".form-error")).to_have_text("That key is not an admin key.")
        expect(page.locator("input[name=key]")).to_have_attribute("aria-invalid", "true")
        visitor.sign_in()
        expect(page.locator("[data-tab=providers]")).to_have_attribute("aria-selected", "true")
        expect(page.locator("#panel .empty")).to_contain_text("No providers yet")
        # A reload keeps the session (the cookie) and regains the CSRF token (GET /session).
        page.reload()
        expect(page.locator("[role=tablist]")).to_be_visible()
        page.click("#logout")
        expect(page.locator("input[name=key]")).to_be_visible()
        assert visitor.unexpected_console() == []
    finally:
        visitor.close()


def test_add_a_provider_and_chat_with_its_model(admin, gateway, upstream):
    page = admin.tab("providers")
    with pytest.raises(openai.NotFoundError):  # nothing served yet
        sdk(gateway).chat.completions.create(model=MODELS[0], messages=[{"role": "user", "content": ASKED}])
    page.click("#add-provider")
    form = page.locator("form.form")
    form.locator("[data-field=provider]").fill(PROVIDER)
    form.locator("[data-field=base_url]").fill(upstream.url + "/v1")
    # The live preview: where requests will go, and the engine detected from the URL.
    expect(form.locator(".preview-url")).to_have_text(upstream.url + "/v1/chat/completions")
    expect(form.locator(".preview .badge-engine")).to_have_text("openai")
    form.locator(".tag-input").fill(UPSTREAM_KEY)
    form.locator(".tag-input").press("Enter")
    expect(form.locator(".tag")).to_have_text(re.compile(r"…" + UPSTREAM_KEY[-4:]))  # a new key shows its last 4 only
    form.locator("[data-action=fetch-models]").click()  # the upstream's /v1/models, through the gateway
    for model in MODELS:
        expect(form.locator(f"button.chip[data-model={model}]")).to_be_visible()
    form.locator(f"button.chip[data-model={MODELS[0]}]").click()
    expect(form.locator(f"button.chip[data-model={MODELS[0]}]")).to_have_attribute("aria-pressed", "true")
    expect(form.locator(".model-row .m-up")).to_have_value(MODELS[0])
    form.locator("button[type=submit]").click()

    card = page.locator(f"[data-provider={PROVIDER}]")
    expect(card).to_be_visible()
    expect(form).to_have_count(0)
    expect(card.locator(".badge-engine")).to_have_text("openai")
    expect(card.locator(".url")).to_have_text(upstream.url + "/v1/chat/completions")
    card.locator("[data-action=test]").click()  # one max_tokens=1 request through the channel
    expect(card.locator(".test-result")).to_contain_text("OK")
    expect(card.locator(".test-result")).to_contain_text("HTTP 200")

    client = sdk(gateway)
    assert MODELS[0] in [m.id for m in client.models.list().data]
    answer = client.chat.completions.create(model=MODELS[0], messages=[{"role": "user", "content": ASKED}])
    assert answer.choices[0].message.content == f"{PROVIDER} says: {ASKED}"
    stored = admin_api(gateway, "GET", "/providers").json()["providers"][0]
    assert stored["api"] == "…" + UPSTREAM_KEY[-4:] and stored["model"] == [MODELS[0]]


def test_a_write_on_an_old_version_reloads_and_then_succeeds(admin, gateway):
    page = admin.tab("providers")
    card = page.locator(f"[data-provider={PROVIDER}]")
    card.locator("[data-action=edit]").click()
    form = page.locator("form.form")
    form.locator("[data-action=add-model]").click()
    form.locator(".model-row").last.locator(".m-up").fill(MODELS[1])
    form.locator(".model-row").last.locator(".m-alias").fill("panel-alias")
    # Meanwhile a script changes the config: the form's version is now an old one.
    version = admin_api(gateway, "GET", "/config").json()["version"]
    changed = admin_api(gateway, "PUT", "/mappings/by-a-script", json={"version": version, "targets": {PROVIDER: MODELS[0]}})
    assert changed.status_code == 200, changed.text
    form.locator("button[type=submit]").click()
    expect(page.locator(".toast-warning")).to_contain_text("Changed by someone else")
    # The form was reopened on the fresh provider (the other model is not in it); the admin adds it again.
    form = page.locator("form.form")
    expect(form.locator(".model-row")).to_have_count(1)
    form.locator("[data-action=add-model]").click()
    form.locator(".model-row").last.locator(".m-up").fill(MODELS[1])
    form.locator(".model-row").last.locator(".m-alias").fill("panel-alias")
    form.locator("button[type=submit]").click()
    expect(page.locator("form.form")).to_have_count(0)
    expect(page.locator(f"[data-provider={PROVIDER}] .chip", has_text="panel-alias")).to_be_visible()
    answer = sdk(gateway).chat.completions.create(model="panel-alias", messages=[{"role": "user", "content": ASKED}])
    assert answer.choices[0].message.content == f"{PROVIDER} says: {ASKED}"


def test_a_mapping_made_in_the_panel_is_served(admin, gateway):
    page = admin.tab("mappings")
    expect(page.locator("[data-mapping=by-a-script]")).to_be_visible()
    page.click("#add-mapping")
    form = page.locator("form.form")
    form.locator("[data-field=name]").fill("panel-unified")
    form.locator(".t-provider").select_option(PROVIDER)
    form.locator(".t-model").fill(MODELS[0])
    form.locator("button[type=submit]").click()
    expect(page.locator("[data-mapping=panel-unified]")).to_contain_text(MODELS[0])
    answer = sdk(gateway).chat.completions.create(model="panel-unified", messages=[{"role": "user", "content": ASKED}])
    assert answer.choices[0].message.content == f"{PROVIDER} says: {ASKED}"
    # Deleting the script's mapping goes through the confirm dialog.
    page.locator("[data-mapping=by-a-script] .btn-danger-ghost").click()
    confirm(page)
    expect(page.locator("[data-mapping=by-a-script]")).to_have_count(0)


def test_create_a_key_use_it_and_revoke_it(admin, gateway):
    page = admin.tab("keys")
    expect(page.locator(f"tr[data-key-id='{key_id(USER_KEY)}']")).to_contain_text("…" + USER_KEY[-4:])
    page.click("#create-key")
    form = page.locator("form.form")
    form.locator("[data-field=name]").fill("panel-bot")
    form.locator("[data-field=model]").fill(f"{MODELS[0]}\npanel-alias")
    form.locator("[data-field~=SCHEDULING_ALGORITHM]").select_option("round_robin")
    form.locator("[data-field~=RATE_LIMIT]").fill("not a limit")
    form.locator("button[type=submit]").click()
    # A 400 names the field: its message is shown and the rate-limit field is marked.
    expect(form.locator(".form-error")).to_be_visible()
    expect(form.locator("[data-field~=RATE_LIMIT]")).to_have_attribute("aria-invalid", "true")
    form.locator("[data-field~=RATE_LIMIT]").fill("60/min")
    form.locator("button[type=submit]").click()

    shown = page.locator("#new-key-value")
    expect(shown).to_have_value(re.compile(r"^sk-[A-Za-z0-9_-]{48}$"))
    new_key = shown.input_value()
    expect(page.locator(".callout .warning")).to_contain_text("only time the full key is shown")
    row = page.locator(f"tr[data-key-id='{key_id(new_key)}']")
    expect(row).to_contain_text("…" + new_key[-4:])
    expect(row).to_contain_text("panel-bot")
    expect(row).to_contain_text("round_robin")
    expect(row).to_contain_text("60/min")
    assert new_key not in page.locator("table").inner_text()  # the table shows it masked

    client = sdk(gateway, new_key)
    assert sorted(m.id for m in client.models.list().data) == sorted([MODELS[0], "panel-alias"])
    assert client.chat.completions.create(model=MODELS[0], messages=[{"role": "user", "content": ASKED}]).choices[0].message.content

    row.locator("[data-action=revoke]").click()
    confirm(page)
    expect(row).to_have_count(0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model=MODELS[0], messages=[{"role": "user", "content": ASKED}])
    with pytest.raises(openai.AuthenticationError):
        client.models.list()
    assert sdk(gateway).models.list().data  # the other key still works


def test_yaml_usage_health_and_audit_show_what_happened(admin, gateway):
    page = admin.tab("yaml")
    text = page.locator("#yaml-text")
    expect(text).to_have_value(re.compile(PROVIDER))
    yaml_text = text.input_value()
    assert UPSTREAM_KEY not in yaml_text and USER_KEY not in yaml_text and "…" + UPSTREAM_KEY[-4:] in yaml_text
    page.click("#yaml-validate")
    expect(page.locator(".yaml-result")).to_contain_text("The config is valid.")
    text.fill(yaml_text.replace(f"provider: {PROVIDER}", "provider:", 1))
    page.click("#yaml-validate")
    expect(page.locator(".yaml-result .form-error")).to_contain_text("providers[0]")
    text.fill(yaml_text)  # back as it was: saving it unchanged keeps every masked secret
    page.click("#yaml-save")
    expect(page.locator(".yaml-result")).to_contain_text("Saved as version")
    assert sdk(gateway).chat.completions.create(model=MODELS[0], messages=[{"role": "user", "content": ASKED}]).choices[0].message.content

    page = admin.tab("usage")
    usage = page.locator("#panel table")
    expect(usage).to_contain_text(MODELS[0])
    expect(usage).to_contain_text(PROVIDER)
    expect(page.locator("#panel svg.chart rect").first).to_be_attached()

    page = admin.tab("health")
    expect(page.locator("#panel table").first).to_contain_text(f"{PROVIDER}")
    page.click("#health-refresh")
    expect(page.locator("#panel table").first).to_contain_text("…" + UPSTREAM_KEY[-4:])

    page = admin.tab("audit")
    audit = page.locator("#panel table")
    for action in ("providers.create", "providers.update", "mappings.update", "mappings.delete", "keys.create", "keys.delete"):
        expect(audit).to_contain_text(action)
    assert UPSTREAM_KEY not in audit.inner_text()
    assert admin.unexpected_console() == []


def test_sign_out_ends_the_session(admin, gateway):
    page = admin.tab("providers")
    cookie = next(c for c in admin.context.cookies() if c["name"] == "gw_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    with_cookie = {"cookie": f"gw_admin={cookie['value']}"}
    assert httpx.get(gateway.url + "/admin/api/session", headers=with_cookie).status_code == 200
    page.click("#logout")
    expect(page.locator("input[name=key]")).to_be_visible()
    expect(page.locator(".notice")).to_have_text("You are signed out.")
    answer = httpx.get(gateway.url + "/admin/api/providers", headers=with_cookie)
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "admin_auth_required"
    page.reload()  # and the page itself stays signed out
    expect(page.locator("input[name=key]")).to_be_visible()
    assert admin.unexpected_console() == []


# -- other browsers ---------------------------------------------------------------------------------------------------

def test_phone_width_has_no_horizontal_overflow(browser, gateway):
    phone = Session(browser, gateway.url, viewport=PHONE, locale="en-US", is_mobile=True, has_touch=True)
    try:
        page = phone.open()
        expect(page.locator("input[name=key]")).to_be_visible()
        widths = {"login": page.evaluate("document.documentElement.scrollWidth")}
        phone.sign_in()
        for name in TABS:
            phone.tab(name)
            widths[name] = page.evaluate("document.documentElement.scrollWidth")
        page.click("[data-tab=providers]")
        page.click("#add-provider")  # the provider form too
        expect(page.locator("form.form")).to_be_visible()
        widths["provider form"] = page.evaluate("document.documentElement.scrollWidth")
        assert widths == {name: PHONE["width"] for name in widths}
        assert phone.unexpected_console() == []
    finally:
        phone.close()


def test_a_chinese_browser_gets_chinese_and_a_switch_to_english_is_remembered(browser, gateway):
    chinese = Session(browser, gateway.url, locale="zh-CN")
    try:
        page = chinese.open()
        expect(page.locator("h1")).to_have_text("登录管理面板")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        chinese.sign_in()
        expect(page.locator("[data-tab=providers]")).to_have_text("渠道")
        expect(page.locator("#logout")).to_have_text("退出登录")
        expect(page.locator("#panel h2")).to_have_text("渠道")
        page.locator(".topbar .lang-select").select_option("en")
        expect(page.locator("[data-tab=providers]")).to_have_text("Providers")
        page.reload()
        expect(page.locator("[data-tab=keys]")).to_have_text("Keys")
        assert page.locator("html").get_attribute("lang") == "en"
        assert chinese.unexpected_console() == []
    finally:
        chinese.close()


def test_a_gateway_without_an_admin_key_shows_admin_disabled(browser):
    server = start_gateway(gateway_env(CONFIG_YAML=json.dumps(config(keys=[gateway_key(USER_KEY)]))))
    visitor = Session(browser, server.url, locale="en-US")
    try:
        page = visitor.open()
        expect(page.locator("h1")).to_have_text("Admin is disabled")
        expect(page.locator("main")).to_contain_text("ADMIN_API_KEY")
        expect(page.locator("input[name=key]")).to_have_count(0)
        assert visitor.unexpected_console() == []
    finally:
        visitor.close()
        server.stop()
