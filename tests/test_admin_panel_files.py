"""The admin panel's files and their serving module (shared/admin/panel.py), without a browser.

What a browser would only show indirectly is checked here directly: the page's security headers are the
contract's, the asset allow-list is the directory listing and nothing else, no name reaches outside it,
the page holds no inline script or style (the CSP would block them), the scripts never parse HTML
text, and every string the panel shows exists in English and in Chinese. tests/test_admin_browser.py
drives the same files in Chromium against a real gateway.
"""

from __future__ import annotations

import json
import os
import re

import pytest

from shared.admin import panel

STATIC = panel.STATIC_DIR
CONTRACT_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; "
                "frame-ancestors 'none'")


def read(name: str) -> str:
    with open(os.path.join(STATIC, name), encoding="utf-8") as fh:
        return fh.read()


def strings() -> dict[str, dict[str, str]]:
    """i18n.js is one JSON object after ``export const STRINGS =``."""
    text = read("i18n.js")
    body = text[text.index("\nexport const STRINGS =") + len("\nexport const STRINGS ="):].strip().rstrip(";")
    return json.loads(body)


def test_page_has_the_contract_headers():
    response = panel.index()
    assert response.status_code == 200
    headers = response.headers
    assert headers["content-type"] == "text/html; charset=utf-8"
    assert headers["content-security-policy"] == CONTRACT_CSP
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    assert b'<script type="module" src="/admin/static/app.js"></script>' in response.body


def test_page_has_no_inline_script_or_style():
    page = read("index.html")
    for tag in re.findall(r"<script\b[^>]*>", page):
        assert "src=" in tag, tag  # inline scripts would be refused by script-src 'self'
    assert re.findall(r"<script\b[^>]*>(.*?)</script>", page, flags=re.S) == [""]
    assert "<style" not in page and "style=" not in page and " on" not in re.sub(r"<noscript>.*?</noscript>", "", page, flags=re.S)


@pytest.mark.parametrize("name", sorted(n for n in os.listdir(STATIC) if n.endswith(".js")))
def test_scripts_build_the_page_without_parsing_html_or_code(name):
    script = read(name)
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
                      'setAttribute("style"', "cssText"):
        assert forbidden not in script, f"{name} uses {forbidden}"


@pytest.mark.parametrize(("name", "content_type"), [
    ("app.js", "text/javascript; charset=utf-8"),
    ("i18n.js", "text/javascript; charset=utf-8"),
    ("app.css", "text/css; charset=utf-8"),
    ("favicon.svg", "image/svg+xml"),
])
def test_assets_are_served_with_their_type_and_cache_headers(name, content_type):
    response = panel.asset(name)
    assert response is not None
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["x-content-type-options"] == "nosniff"
    with open(os.path.join(STATIC, name), "rb") as fh:
        assert response.body == fh.read()
    etag = response.headers["etag"]
    revalidated = panel.asset(name, if_none_match=etag)
    assert revalidated is not None and revalidated.status_code == 304 and revalidated.body == b""
    assert panel.asset(name, if_none_match='"other"').status_code == 200  # type: ignore[union-attr]


def test_allow_list_is_the_directory_listing_without_the_page():
    listed = {n for n in os.listdir(STATIC) if os.path.splitext(n)[1] in panel.CONTENT_TYPES}
    assert panel.ALLOWED == listed - {"index.html"}
    assert {"app.js", "app.css", "i18n.js"} <= panel.ALLOWED


@pytest.mark.parametrize("name", ["", ".", "..", "../panel.py", "..%2fpanel.py", "panel.py", "__init__.py", "static/app.js",
                                  "/app.js", "app.js/", "sub/app.js", "..\\panel.py", "index.html", "APP.JS", "app.js.bak",
                                  "app.js\x00.css", ".app.js"])
def test_other_names_are_refused(name):
    assert panel.asset(name) is None


def test_every_string_is_in_english_and_chinese():
    table = strings()
    assert set(table) == {"en", "zh"}
    assert set(table["en"]) == set(table["zh"])
    for lang, texts in table.items():
        assert all(isinstance(v, str) and v.strip() for v in texts.values()), lang
    # Chinese is Chinese: nearly every entry holds a CJK character (the rest are names such as "YAML").
    cjk = [k for k, v in table["zh"].items() if re.search(r"[\u4e00-\u9fff]", v)]
    assert len(cjk) >= 0.9 * len(table["zh"])
    # Placeholders match between the languages.
    for key in table["en"]:
        assert sorted(re.findall(r"\{\w+\}", table["en"][key])) == sorted(re.findall(r"\{\w+\}", table["zh"][key])), key


def test_every_key_the_script_asks_for_exists():
    table = strings()["en"]
    script = read("app.js")
    asked = set(re.findall(r'\bt\(\s*"([a-z_]+)"', script))
    asked |= set(re.findall(r'label: "(tab_[a-z]+)"', script))
    asked |= {f"by_{k}" for k in ("model", "provider", "key")}  # t(`by_${k}`)
    asked |= set(re.findall(r'"(provider_(?:created|saved))"', script))
    missing = sorted(asked - set(table))
    assert not missing, missing
    assert len(asked) > 150  # the pattern still finds the calls
