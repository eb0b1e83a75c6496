"""Screenshots of the admin panel for the README: ``docs/screenshots/*.png``.

Usage: ``python scripts/screenshots.py [OUT_DIR]`` (default ``docs/screenshots``).

Nothing here is staged: it starts two fake upstreams (an OpenAI-compatible one and an Anthropic one, the
test suite's fakes) and the gateway itself (``python main.py``, production mode, an admin key, the embedded
store) with a config pointing at them, sends some chat traffic through the OpenAI SDK (one provider key is
wrong, so Health has a rejected key and recent failures to show), then drives headless Chromium through the
panel and saves what it shows: the sign-in page, providers (with the add form open), keys (just after
creating one), usage, YAML and health at 1280 px, and providers at 375 px (a phone).

Needs what the browser test needs: Debian's ``chromium`` and the packages of requirements-dev.txt.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import openai  # noqa: E402
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from tests.door_process import GATEWAY_VARS, ServerProcess  # noqa: E402
from tests.fakes.anthropic_fake import FakeAnthropic  # noqa: E402
from tests.fakes.openai_fake import FakeOpenAI  # noqa: E402

ADMIN_KEY = "sk-admin-screenshots-0123456789"
USER_KEYS = {"sk-ci-bot-0123456789abcdef0a1f": 14, "sk-web-app-0123456789abcdef77c2": 9}  # key -> chats it sends
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 760}


def gateway_config(openai_fake: FakeOpenAI, claude_fake: FakeAnthropic) -> dict[str, Any]:
    return {
        "providers": [
            {"provider": "openai", "base_url": openai_fake.url + "/v1", "api": ["sk-upstream-key-1", "sk-upstream-key-2"],
             "model": ["gpt-4o", "gpt-4o-mini", {"gpt-4.1-2025-04-14": "gpt-4.1"}]},
            {"provider": "claude", "engine": "anthropic", "base_url": claude_fake.url + "/v1/messages", "api": "sk-ant-key-1",
             "model": [{"claude-sonnet-4-20250514": "claude-sonnet"}]},
            {"provider": "backup", "base_url": openai_fake.url + "/v1", "api": "sk-revoked-upstream-key-9f31", "model": ["gpt-4o"]},
            {"provider": "mock", "engine": "mock", "model": ["mock-model"]},
        ],
        "api_keys": [
            {"api": next(iter(USER_KEYS)), "name": "ci-bot", "model": ["gpt-4o", "gpt-4o-mini", "claude-sonnet"],
             "preferences": {"SCHEDULING_ALGORITHM": "round_robin", "RATE_LIMIT": "60/min"}},
            {"api": list(USER_KEYS)[1], "name": "web-app", "preferences": {"SCHEDULING_ALGORITHM": "fixed_priority"}},
        ],
        "model_mappings": {"smart": {"openai": "gpt-4o", "claude": "claude-sonnet"}},
    }


def traffic(url: str) -> None:
    """Chats from both user keys over several models (usage), some of them routed to ``backup``, whose
    key the upstream refuses (health: a rejected key, recent failures; the gateway retries elsewhere)."""
    models = ["gpt-4o", "claude-sonnet", "gpt-4o-mini", "mock-model", "smart"]
    for key, count in USER_KEYS.items():
        client = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=30)
        allowed = {m.id for m in client.models.list().data}
        for n in range(count):
            model = [m for m in models if m in allowed][n % len([m for m in models if m in allowed])]
            client.chat.completions.create(model=model, messages=[{"role": "user", "content": f"Hello number {n}"}])


def shot(page: Page, out: str, name: str, full_page: bool = False) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(150)  # let transitions and the toast region settle
    path = os.path.join(out, name + ".png")
    page.screenshot(path=path, full_page=full_page, animations="disabled", caret="hide")
    print(f"{path}  {os.path.getsize(path) // 1024} KB")


def open_tab(page: Page, name: str) -> None:
    page.click(f"[data-tab={name}]")
    expect(page.locator("#panel .loading")).to_have_count(0)


def sign_in(page: Page, url: str) -> None:
    page.goto(url + "/")
    page.fill("input[name=key]", ADMIN_KEY)
    page.click("form button[type=submit]")
    expect(page.locator("[role=tablist]")).to_be_visible()


def capture(url: str, out: str, upstream_url: str) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Debian's chromium is not installed (./test.sh installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        context = browser.new_context(viewport=DESKTOP, locale="en-US", device_scale_factor=1)
        page = context.new_page()
        page.goto(url + "/")
        expect(page.locator("input[name=key]")).to_be_visible()
        shot(page, out, "login")

        sign_in(page, url)
        open_tab(page, "providers")
        page.locator("[data-provider=mock] [data-action=test]").click()
        expect(page.locator("[data-provider=mock] .test-result .badge")).to_be_visible()
        page.locator("[data-provider=openai] [data-action=test]").click()
        expect(page.locator("[data-provider=openai] .test-result .badge")).to_be_visible()
        shot(page, out, "providers")

        page.click("#add-provider")
        form = page.locator("form.form")
        form.locator("[data-field=provider]").fill("local-vllm")
        form.locator("[data-field=base_url]").fill(upstream_url + "/v1")
        expect(form.locator(".preview-url")).to_be_visible()
        form.locator(".tag-input").fill("sk-upstream-key-1")
        form.locator(".tag-input").press("Enter")
        form.locator("[data-action=fetch-models]").click()
        expect(form.locator("button.chip").first).to_be_visible()
        form.locator("button.chip[data-model=gpt-4o]").click()
        form.locator(".model-row .m-alias").fill("local-gpt")
        page.set_viewport_size({"width": DESKTOP["width"], "height": 900})  # the whole form, buttons included
        shot(page, out, "provider-form")
        page.set_viewport_size(DESKTOP)
        form.locator("button.btn-ghost", has_text="Cancel").click()

        open_tab(page, "keys")
        page.click("#create-key")
        form = page.locator("form.form")
        form.locator("[data-field=name]").fill("analytics")
        form.locator("[data-field=model]").fill("gpt-4o\nclaude-*")
        form.locator("[data-field~=SCHEDULING_ALGORITHM]").select_option("weighted_round_robin")
        form.locator("[data-field~=RATE_LIMIT]").fill("120/min,5000/day")
        form.locator("button[type=submit]").click()
        expect(page.locator("#new-key-value")).to_be_visible()
        page.locator("#new-key-value").blur()
        page.evaluate("document.querySelectorAll('.toast').forEach(t => t.remove())")
        shot(page, out, "keys")

        open_tab(page, "usage")
        expect(page.locator("svg.chart")).to_be_visible()
        shot(page, out, "usage")

        open_tab(page, "health")
        shot(page, out, "health")

        open_tab(page, "yaml")
        expect(page.locator("#yaml-text")).not_to_have_value("")
        page.click("#yaml-validate")
        expect(page.locator(".yaml-result")).not_to_be_empty()
        shot(page, out, "yaml")
        context.close()

        phone = browser.new_context(viewport=PHONE, locale="en-US", device_scale_factor=1, is_mobile=True, has_touch=True)
        page = phone.new_page()
        sign_in(page, url)
        open_tab(page, "providers")
        shot(page, out, "phone-providers")
        phone.close()
        browser.close()


def main(argv: list[str]) -> int:
    out = os.path.abspath(argv[1] if len(argv) > 1 else os.path.join(ROOT, "docs", "screenshots"))
    os.makedirs(out, exist_ok=True)
    openai_fake = FakeOpenAI("openai", keys=("sk-upstream-key-1", "sk-upstream-key-2"),
                             models=("gpt-4o", "gpt-4o-mini", "gpt-4.1-2025-04-14", "o4-mini", "text-embedding-3-small")).start()
    claude_fake = FakeAnthropic("claude").start()
    env = {k: v for k, v in os.environ.items() if k not in GATEWAY_VARS}
    env.update(PYTHONUNBUFFERED="1", ENVIRONMENT="production", ADMIN_API_KEY=ADMIN_KEY,
               CONFIG_YAML=json.dumps(gateway_config(openai_fake, claude_fake)))
    gateway = ServerProcess([sys.executable, "main.py"], env)
    gateway.env.update(PORT=str(gateway.port), HOST="127.0.0.1")
    try:
        gateway.start()
        traffic(gateway.url)
        capture(gateway.url, out, openai_fake.url)
    finally:
        gateway.stop()
        claude_fake.stop()
        openai_fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
