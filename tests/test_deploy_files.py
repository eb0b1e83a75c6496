"""The deploy files are valid for their tools, offline: a broken one fails here, not at deploy time.

* template.yaml (SAM): expanded by aws-sam-translator, the CloudFormation it produces linted by cfn-lint.
* serverless.yml (Serverless Framework v3): ``serverless print`` resolves it without AWS credentials;
  its schema warnings other than the known python3.12 one fail the test.
* vercel.json: every gateway path is rewritten to the function in a way the Vercel door undoes.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import os
import re
import shutil
import subprocess
from typing import Any

import pytest

from shared.vercel_paths import original_path
from tests.door_process import ROOT

LWA_ACCOUNT = "753240598075"  # publisher of the public AWS Lambda Web Adapter layers
SETTINGS_VARS = {"ADMIN_API_KEY", "TEMP_API_KEY", "TEMP_API_KEY_ONE", "ENVIRONMENT", "TIMEOUT_SECONDS", "CONFIG_YAML",
                 "CONFIG_URL", "REDIS_URL", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN", "DISABLE_DATABASE"}
LWA_VARS = {"AWS_LAMBDA_EXEC_WRAPPER", "AWS_LWA_INVOKE_MODE", "AWS_LWA_READINESS_CHECK_PROTOCOL", "PORT"}
SECRET_PARAMETERS = {"AdminApiKey", "TempApiKey", "TempApiKeyOne", "ConfigYaml", "ConfigUrl", "RedisUrl",
                     "UpstashRedisRestToken"}


def path(*parts: str) -> str:
    return os.path.join(ROOT, *parts)


# -- template.yaml (SAM) ---------------------------------------------------------------------------

def load_sam(name: str = "template.yaml") -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    with open(path(name)) as fh:
        return yaml_parse(fh.read())


def sam_to_cloudformation(template: dict[str, Any]) -> dict[str, Any]:
    """What ``sam package`` + CloudFormation's SAM transform would make of the template."""
    import boto3
    from samtranslator.parser.parser import Parser
    from samtranslator.public.exceptions import InvalidDocumentException
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":  # sam package uploads CodeUri and rewrites it
            resource["Properties"]["CodeUri"] = "s3://sam-artifacts-bucket/gateway.zip"
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name="us-east-1"))
    try:
        return translator.translate(template, parameter_values={}, get_managed_policy_map=lambda: {})
    except InvalidDocumentException as exc:
        pytest.fail("SAM translation failed: " + "; ".join(str(cause) for cause in exc.causes))


def lint(template: dict[str, Any]) -> list[str]:
    from cfnlint.api import ManualArgs, lint as cfn_lint

    return [str(match) for match in cfn_lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"]))]


@pytest.fixture(scope="module")
def sam() -> dict[str, Any]:
    return load_sam()


def test_sam_template_expands_and_lints_clean(sam):
    cloudformation = sam_to_cloudformation(sam)
    types = {r["Type"] for r in cloudformation["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::Lambda::Url", "AWS::IAM::Role"} <= types
    assert lint(cloudformation) == []


def test_cfn_lint_reads_the_sam_template_itself():
    with open(path("template.yaml")) as fh:
        from cfnlint.api import ManualArgs, lint as cfn_lint

        assert [str(m) for m in cfn_lint(fh.read(), config=ManualArgs(regions=["us-east-1"]))] == []


def test_a_broken_template_fails_the_check(sam):
    broken = copy.deepcopy(sam)
    broken["Resources"]["GatewayFunction"]["Properties"]["Runtime"] = "python3.99"
    broken["Resources"]["GatewayFunction"]["Properties"]["Timeout"] = 1200
    problems = lint(sam_to_cloudformation(broken))
    assert any("python3.99" in p for p in problems) and any("1200" in p for p in problems)


def test_sam_function_fits_llm_calls(sam):
    function = sam["Resources"]["GatewayFunction"]["Properties"]
    parameters = sam["Parameters"]
    assert function["Runtime"] == "python3.12" and function["Architectures"] == ["arm64"]
    assert function["CodeUri"] == "." and os.path.isfile(path("requirements.txt"))
    assert parameters["FunctionTimeout"]["Default"] >= 120 and parameters["FunctionTimeout"]["MaxValue"] == 900
    assert parameters["MemorySize"]["Default"] >= 512
    assert function["FunctionUrlConfig"]["AuthType"] == "NONE"  # the gateway checks its own keys
    assert "Events" not in function  # no API Gateway: it would cut every request at 30 s


def test_sam_handlers_exist(sam):
    handler = sam["Resources"]["GatewayFunction"]["Properties"]["Handler"]
    streaming_handler, buffered_handler = handler["Fn::If"][1:]
    module, _, attribute = buffered_handler.rpartition(".")
    with open(path(module + ".py")) as fh:
        assert f"\n{attribute} = Mangum(" in fh.read()
    assert os.access(path(streaming_handler), os.X_OK), f"{streaming_handler} must be executable (Web Adapter runs it)"


def test_sam_streaming_option_is_the_web_adapter_with_a_streaming_url(sam):
    function = sam["Resources"]["GatewayFunction"]["Properties"]
    assert sam["Conditions"]["IsStreaming"] == {"Fn::Equals": [{"Ref": "Streaming"}, "true"]}
    assert sam["Parameters"]["Streaming"]["Default"] == "false"
    assert function["FunctionUrlConfig"]["InvokeMode"] == {"Fn::If": ["IsStreaming", "RESPONSE_STREAM", "BUFFERED"]}
    layer = function["Layers"]["Fn::If"][1][0]["Fn::Sub"]
    assert f":{LWA_ACCOUNT}:layer:LambdaAdapterLayerArm64:" in layer
    variables = function["Environment"]["Variables"]
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"]["Fn::If"][:2] == ["IsStreaming", "/opt/bootstrap"]
    assert variables["AWS_LWA_INVOKE_MODE"]["Fn::If"][:2] == ["IsStreaming", "response_stream"]


def test_sam_environment_is_the_gateway_settings_and_secrets_are_hidden(sam):
    variables = sam["Resources"]["GatewayFunction"]["Properties"]["Environment"]["Variables"]
    assert set(variables) == SETTINGS_VARS | LWA_VARS
    parameters = sam["Parameters"]
    for name in SECRET_PARAMETERS:
        assert parameters[name].get("NoEcho") is True, name
    assert "Default" not in parameters["AdminApiKey"]  # required: a public URL must not run on default keys
    assert parameters["Environment"]["Default"] == "production"


# -- serverless.yml (Serverless Framework v3) -------------------------------------------------------

def serverless_bin() -> str:
    """``serverless`` v3 as .ci/run installs it (outside the work tree), or any other install of v3."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    candidates = [os.environ.get("SERVERLESS_BIN", ""),
                  os.path.join(cache, "uni-gateway", "serverless", "node_modules", ".bin", "serverless"),
                  path("tests", "deploy", "node_modules", ".bin", "serverless"),
                  shutil.which("serverless") or ""]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("Serverless Framework v3 is not installed. Install it as .ci/run does: copy tests/deploy/package*.json "
                "to ~/.cache/uni-gateway/serverless and run `npm ci --ignore-scripts` there (or set SERVERLESS_BIN).")


def start_print(*args: str, admin_key: str | None = "sk-example-admin") -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLS_")) and k not in SETTINGS_VARS}
    env.update(SLS_TELEMETRY_DISABLED="1", SLS_TRACKING_DISABLED="1", SLS_NOTIFICATIONS_MODE="off",
               AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_CONFIG_FILE=os.devnull)  # prove no credentials are needed
    if admin_key is not None:
        env["ADMIN_API_KEY"] = admin_key
    return subprocess.Popen([serverless_bin(), "print", "--format", "json", *args], cwd=ROOT, env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen[str]) -> tuple[int, dict[str, Any] | None, str]:
    """Exit code, the printed config, and the messages (stderr; on failure stdout too, where v3 puts errors)."""
    out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        return 0, json.loads(out), err
    return proc.returncode, None, out + err


@pytest.fixture(scope="module")
def printed() -> dict[str, tuple[int, dict[str, Any] | None, str]]:
    """The three prints run side by side (each takes a few seconds of node start-up)."""
    runs = {"buffered": start_print(), "streaming": start_print("--param=streaming=true"),
            "no-admin-key": start_print(admin_key=None)}
    return {name: finish(proc) for name, proc in runs.items()}


def schema_warnings(stderr: str) -> list[str]:
    return re.findall(r"^\s+at '([^']+)': (.*)$", stderr, flags=re.M)


def test_serverless_print_resolves_offline_with_only_the_known_schema_warning(printed):
    code, config, stderr = printed["buffered"]
    assert code == 0, stderr
    # v3's schema stops at python3.11; the deployed runtime is python3.12 all the same.
    assert [where for where, _ in schema_warnings(stderr)] == ["provider.runtime"], stderr
    assert config["frameworkVersion"] == "3" and config["configValidationMode"] == "warn"


def test_serverless_function_matches_the_sam_template(printed, sam):
    config = printed["buffered"][1]
    provider, function = config["provider"], config["functions"]["api"]
    assert provider["runtime"] == "python3.12" and provider["architecture"] == "arm64"
    assert provider["timeout"] >= 120 and provider["memorySize"] >= 512
    assert set(provider["environment"]) == SETTINGS_VARS
    assert provider["environment"]["ADMIN_API_KEY"] == "sk-example-admin"
    assert provider["environment"]["ENVIRONMENT"] == "production"
    buffered_handler = sam["Resources"]["GatewayFunction"]["Properties"]["Handler"]["Fn::If"][2]
    assert function["handler"] == buffered_handler
    assert function["url"] == {"invokeMode": "BUFFERED"} and function["layers"] == []
    assert "events" not in function or function["events"] == []


def test_serverless_packages_arm64_requirements(printed):
    config = printed["buffered"][1]
    assert "serverless-python-requirements" in config["plugins"]
    options = config["custom"]["pythonRequirements"]
    args = options["pipCmdExtraArgs"]
    assert all(isinstance(a, str) for a in args), args  # an unquoted "--only-binary=:all:" turns into a mapping
    assert "--platform=manylinux2014_aarch64" in args and "--only-binary=:all:" in args
    assert "--python-version=3.12" in args
    assert options["dockerizePip"] is False and options["strip"] is False
    patterns = config["package"]["patterns"]
    assert patterns[0] == "!**" and {"shared/**", "functions/aws/**"} <= set(patterns)


def test_serverless_streaming_variant_uses_the_web_adapter(printed):
    code, config, stderr = printed["streaming"]
    assert code == 0, stderr
    function = config["functions"]["api"]
    assert function["handler"] == "functions/aws/run.sh"
    assert function["url"] == {"invokeMode": "RESPONSE_STREAM"}
    assert re.fullmatch(rf"arn:aws:lambda:us-east-1:{LWA_ACCOUNT}:layer:LambdaAdapterLayerArm64:\d+", function["layers"][0])
    assert function["environment"]["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert function["environment"]["AWS_LWA_INVOKE_MODE"] == "response_stream"


def test_serverless_refuses_to_deploy_without_an_admin_key(printed):
    code, _, stderr = printed["no-admin-key"]
    assert code != 0 and "ADMIN_API_KEY" in stderr


# -- vercel.json --------------------------------------------------------------------------------------

def vercel_pattern(source: str) -> re.Pattern[str]:
    """A Vercel ``source`` (path-to-regexp: regex groups, ``:name`` and ``:name*``) as a Python regex."""
    pattern = re.sub(r":(\w+)\*", r"(?P<\1>.*)", source)
    pattern = re.sub(r":(\w+)", r"(?P<\1>[^/]+)", pattern)
    return re.compile(pattern + "$")


def rewrite(config: dict[str, Any], url_path: str) -> str | None:
    for rule in config.get("rewrites", []):
        match = vercel_pattern(rule["source"]).match(url_path)
        if match:
            destination = re.sub(r"\$(\d)", lambda m: match.group(int(m[1])) or "", rule["destination"])
            return re.sub(r":(\w+)\*?", lambda m: match.groupdict().get(m[1]) or "", destination)
    return None


@pytest.fixture(scope="module")
def vercel() -> dict[str, Any]:
    with open(path("vercel.json")) as fh:
        return json.load(fh)


def test_vercel_function_has_time_for_long_streams(vercel):
    function = vercel["functions"]["api/index.py"]
    assert os.path.isfile(path("api", "index.py"))
    assert 300 <= function["maxDuration"] <= 800  # 300 s is the ceiling on every plan; Pro allows 800


def test_vercel_uses_rewrites_only(vercel):
    assert "routes" not in vercel and "builds" not in vercel  # legacy keys that cannot be mixed with rewrites


@pytest.mark.parametrize("url_path", ["/", "/healthz", "/v1/chat/completions", "/v1/models", "/chat/completions",
                                      "/admin", "/admin/keys/42"])
def test_vercel_rewrite_reaches_the_function_and_the_door_recovers_the_path(vercel, url_path):
    destination = rewrite(vercel, url_path)
    assert destination is not None, f"{url_path} is not routed to the function"
    function_path, _, query = destination.partition("?")
    assert function_path == "/api/index"
    scope = original_path({"type": "http", "path": function_path, "query_string": query.encode()})
    assert scope["path"] == url_path


def test_vercel_bundle_keeps_the_app(vercel):
    exclude = vercel["functions"]["api/index.py"].get("excludeFiles", "")
    patterns = exclude.strip("{}").split(",") if exclude else []
    for needed in ("api/index.py", "shared/app.py", "shared/vercel_paths.py", "requirements.txt"):
        assert not any(fnmatch.fnmatch(needed, p) for p in patterns), needed
    assert any(fnmatch.fnmatch("tests/test_smoke.py", p) for p in patterns)


def test_root_requirements_keep_vercel_out_of_framework_mode():
    with open(path("requirements.txt")) as fh:
        names = {re.split(r"[=<>!~;\[ ]", line.split("#")[0].strip())[0].lower() for line in fh if line.split("#")[0].strip()}
    assert not names & {"fastapi", "flask", "functions-framework", "django"}
