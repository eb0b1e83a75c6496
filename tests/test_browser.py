"""A browser app calling the gateway: headless Chromium opens a page that uses the openai npm package.

The page (tests/browser/page.html) is served from one 127.0.0.1 port and the gateway listens on
another, so they are different origins and Chromium enforces CORS on every call, preflights included
(the SDK sends ``Authorization`` and ``x-stainless-*`` headers). The gateway answers through the
in-process ``mock`` engine, so no upstream is involved.

What it needs, all installed by ./test.sh: Debian's ``chromium`` (driven through Playwright's Python
package with ``executable_path``; Playwright's own browser download is never used) and the openai npm
package from tests/browser/package-lock.json in a cache directory outside the work tree
(``BROWSER_NODE_MODULES``). A missing piece fails the test: it is never skipped.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, sync_playwright
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tests.builders import config, gateway_key, provider
from tests.fakes.server import ThreadServer

HERE = os.path.dirname(os.path.abspath(__file__))
PAGE = os.path.join(HERE, "browser", "page.html")
KEY = "sk-browser-app"
SENT_ID = "browser-req-1"
ASKED = "hello from the browser"
RESULTS_TIMEOUT_MS = 20_000


def node_modules() -> str:
    """Where test.sh installed tests/browser/package-lock.json (the same default as test.sh's)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.environ.get("BROWSER_NODE_MODULES") or os.path.join(cache, "uni-gateway", "browser", "node_modules")


class ModuleFiles(StaticFiles):
    """The package's files, with a JavaScript type for ``.mjs`` whatever the machine's mime.types says
    (a browser refuses a module script served with any other type)."""

    def file_response(self, full_path: Any, stat_result: os.stat_result, scope: Any, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if str(full_path).endswith((".mjs", ".js")):
            response.headers["content-type"] = "text/javascript; charset=utf-8"
        return response


@pytest.fixture(scope="module")
def site() -> Iterator[ThreadServer]:
    """The page and the openai package's files, on their own origin."""
    package = os.path.join(node_modules(), "openai")
    if not os.path.isfile(os.path.join(package, "index.mjs")):
        pytest.fail(f"the openai npm package is not installed at {package}: run ./test.sh (it installs tests/browser/package-lock.json)")

    async def page(request: Request) -> Response:
        return FileResponse(PAGE, media_type="text/html; charset=utf-8")

    app = Starlette(routes=[Route("/page.html", page), Mount("/node_modules/openai", ModuleFiles(directory=package))])
    with ThreadServer(app) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("Debian's chromium is not installed: run ./test.sh (it installs it with apt-get)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield launched
        launched.close()


def run_page(browser: Browser, site: ThreadServer, gateway_url: str) -> tuple[dict[str, Any], list[str]]:
    """Open the page against ``gateway_url``; its ``window.results`` and the console's error lines."""
    context = browser.new_context()
    try:
        page = context.new_page()
        console: list[str] = []

        def keep(message: ConsoleMessage) -> None:
            if message.type == "error":
                console.append(message.text)

        page.on("console", keep)
        page.on("pageerror", lambda exc: console.append(f"page error: {exc}"))
        page.goto(f"{site.url}/page.html?" + urlencode({"gateway": gateway_url, "key": KEY, "rid": SENT_ID}))
        try:
            page.wait_for_function("() => window.results !== undefined", timeout=RESULTS_TIMEOUT_MS)
        except Exception as exc:
            raise AssertionError(f"the page reported nothing within {RESULTS_TIMEOUT_MS} ms; console: {console}") from exc
        return page.evaluate("window.results"), console
    finally:
        context.close()


def mock_gateway(gateway_factory, cors: str):
    return gateway_factory(config(provider("mock", engine="mock", api=None, models=["mock-model"]), keys=[gateway_key(KEY)]),
                           env={"CORS_ALLOW_ORIGINS": cors})


@pytest.mark.parametrize("listed", [False, True], ids=["any-origin", "listed-origin"])
def test_openai_npm_package_in_a_page_calls_the_gateway_across_origins(browser, site, gateway_factory, listed):
    """CORS_ALLOW_ORIGINS unset-alike (``*``) and a list naming the page's origin (echoed, with Vary)."""
    gw = mock_gateway(gateway_factory, f"https://other.example,{site.url}" if listed else "*")
    assert gw.url != site.url  # two origins: the browser applies CORS to every call

    results, console = run_page(browser, site, gw.url)

    assert results["ok"], f"the page failed: {results}; console: {console}"
    assert results["text"] == f"mock answer to: {ASKED}"
    assert results["stream_text"] == results["text"]
    assert results["stream_pieces"] == len(results["text"].split())  # streamed one word per chunk, read as it came
    assert "mock-model" in results["models"]
    # x-request-id is exposed: the SDK's request_id and the raw header both read it.
    assert results["request_id"] == results["echoed_request_id"] == SENT_ID
    assert results["generated_request_id"].startswith("req_")
    assert results["provider"] == "mock"
    assert console == []


def test_an_origin_the_gateway_does_not_allow_is_refused_by_the_browser(browser, site, gateway_factory):
    gw = mock_gateway(gateway_factory, "https://other.example")

    results, console = run_page(browser, site, gw.url)

    assert not results["ok"], results
    assert results["error"]["name"] == "APIConnectionError", results  # fetch itself failed: no HTTP answer reached the page
    assert results["error"]["status"] is None
    assert any("CORS policy" in line for line in console), console  # Chromium's own word on why
    # The gateway is fine: only the browser refused. Its preflight answer for this origin is the 403 that
    # Chromium enforced, and the same call without a browser (no Origin) is answered.
    preflight = httpx.options(gw.url + "/v1/chat/completions",
                              headers={"origin": site.url, "access-control-request-method": "POST",
                                       "access-control-request-headers": "authorization, content-type"})
    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    answer = gw.client(KEY).chat.completions.create(model="mock-model", messages=[{"role": "user", "content": ASKED}])
    assert answer.choices[0].message.content == f"mock answer to: {ASKED}"
