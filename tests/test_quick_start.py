"""The README's quick start, as a newcomer runs it: the example config, `python main.py`, and the
README's own Python snippet, answered by the mock engine with no provider key and no network."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.test_main_process import ROOT, run_main  # noqa: F401  (fixture)

README = os.path.join(ROOT, "README.md")


def quick_start() -> str:
    text = open(README, encoding="utf-8").read()
    return text[text.index("## Quick start"):text.index("## Endpoints")]


def test_the_quick_start_is_two_commands_run_the_gateway_and_run_the_tests():
    block = re.search(r"```bash\n(.*?)```", quick_start(), re.S)
    assert block is not None
    commands = [line for line in block.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
    assert "CONFIG_PATH=api.example.yaml" in commands[0] and "main.py" in commands[0] and "venv" in commands[0]
    assert commands[1].strip() == "./test.sh"


def test_the_readme_snippet_gets_an_answer_from_the_example_config_offline(run_main):  # noqa: F811
    proc = run_main({"CONFIG_PATH": os.path.join(ROOT, "api.example.yaml"), "OPENAI_API_KEY": "", "ANTHROPIC_API_KEY": "",
                     "GEMINI_API_KEY": ""})
    health = proc.wait_healthy()
    assert health["status"] == "ok" and health["store"] == "memory"
    snippet = re.search(r"```python\n(.*?)```", quick_start(), re.S)
    assert snippet is not None
    code = snippet.group(1).replace("127.0.0.1:8000", f"127.0.0.1:{proc.port}")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "mock answer to: Hello!\nmock answer to: Hello!"
