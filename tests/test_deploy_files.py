"""The deploy files are valid for their tools, offline: a broken one fails here, not at deploy time.

* template.yaml (SAM): expanded by aws-sam-translator, the CloudFormation it produces linted by cfn-lint.
* serverless.yml (Serverless Framework v3): ``serverless print`` resolves it without AWS credentials;
  its schema warnings other than the known python3.12 one fail the test. ``serverless package`` builds
  the real artefact once per run (pip fetches the arm64 wheels from PyPI): its CloudFormation must grant
  both Function URL permissions and its zip must import cleanly with every package's metadata.
* vercel.json + .vercelignore: every gateway path is rewritten to the function in a way the Vercel door
  undoes; only the function's files are uploaded and only ``public/`` is served (scripts/vercel_files.py).
"""

from __future__ import annotations

import copy
import fnmatch
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import zipfile
from typing import Any

import pytest

from shared.vercel_paths import original_path
from tests.door_process import ROOT

LWA_ACCOUNT = "753240598075"  # publisher of the public AWS Lambda Web Adapter layers
LWA_LAYER_VERSION = 30  # Lambda Web Adapter v1.1.0
SETTINGS_VARS = {"ADMIN_API_KEY", "TEMP_API_KEY", "TEMP_API_KEY_ONE", "ENVIRONMENT", "TIMEOUT_SECONDS", "CONFIG_YAML",
                 "CONFIG_URL", "REDIS_URL", "UPSTASH_REDIS_REST_URL", "UPSTASH_REDIS_REST_TOKEN", "DISABLE_DATABASE"}
LWA_VARS = {"AWS_LAMBDA_EXEC_WRAPPER", "AWS_LWA_INVOKE_MODE", "AWS_LWA_READINESS_CHECK_PROTOCOL", "PORT"}
SECRET_PARAMETERS = {"AdminApiKey", "TempApiKey", "TempApiKeyOne", "ConfigYaml", "ConfigUrl", "RedisUrl",
                     "UpstashRedisRestToken"}


def path(*parts: str) -> str:
    return os.path.join(ROOT, *parts)


# The admin panel's page and assets (served by the function from the package, never as static files).
PANEL_FILES = {f"shared/admin/static/{name}" for name in os.listdir(path("shared", "admin", "static"))}


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


def test_sam_web_adapter_layer_default_is_current(sam):
    assert sam["Parameters"]["WebAdapterLayerVersion"]["Default"] == LWA_LAYER_VERSION


def url_permissions(resources: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The Lambda permissions of a CloudFormation template, by action."""
    found = {}
    for resource in resources.values():
        if resource["Type"] == "AWS::Lambda::Permission":
            found[resource["Properties"]["Action"]] = resource["Properties"]
    return found


def test_sam_grants_both_function_url_permissions(sam):
    """Since October 2025 a public Function URL needs lambda:InvokeFunction (via the URL) as well."""
    permissions = url_permissions(sam_to_cloudformation(sam)["Resources"])
    assert permissions["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "NONE"
    assert permissions["lambda:InvokeFunction"]["InvokedViaFunctionUrl"] is True
    for grant in permissions.values():
        assert grant["Principal"] == "*" and grant["FunctionName"] == {"Ref": "GatewayFunction"}


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


def offline_env(admin_key: str | None = "sk-example-admin") -> dict[str, str]:
    """This environment without AWS credentials or gateway settings, and Serverless's telemetry off."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SLS_")) and k not in SETTINGS_VARS}
    env.update(SLS_TELEMETRY_DISABLED="1", SLS_TRACKING_DISABLED="1", SLS_NOTIFICATIONS_MODE="off",
               AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_CONFIG_FILE=os.devnull)  # prove no credentials are needed
    if admin_key is not None:
        env["ADMIN_API_KEY"] = admin_key
    return env


def start_print(*args: str, admin_key: str | None = "sk-example-admin") -> subprocess.Popen[str]:
    return subprocess.Popen([serverless_bin(), "print", "--format", "json", *args], cwd=ROOT, env=offline_env(admin_key),
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
    assert options["useStaticCache"] is False  # its cache is keyed on requirements.txt alone: a stale slim copy
    patterns = config["package"]["patterns"]
    assert patterns[0] == "!**" and {"shared/**", "functions/aws/**"} <= set(patterns)


def test_serverless_streaming_variant_uses_the_web_adapter(printed):
    code, config, stderr = printed["streaming"]
    assert code == 0, stderr
    function = config["functions"]["api"]
    assert function["handler"] == "functions/aws/run.sh"
    assert function["url"] == {"invokeMode": "RESPONSE_STREAM"}
    assert function["layers"] == [f"arn:aws:lambda:us-east-1:{LWA_ACCOUNT}:layer:LambdaAdapterLayerArm64:{LWA_LAYER_VERSION}"]
    assert function["environment"]["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert function["environment"]["AWS_LWA_INVOKE_MODE"] == "response_stream"


def test_serverless_refuses_to_deploy_without_an_admin_key(printed):
    code, _, stderr = printed["no-admin-key"]
    assert code != 0 and "ADMIN_API_KEY" in stderr


INVOKE_VIA_URL = {"Action": "lambda:InvokeFunction", "FunctionName": {"Fn::GetAtt": ["ApiLambdaFunction", "Arn"]},
                  "Principal": "*", "InvokedViaFunctionUrl": True}


@pytest.mark.parametrize("variant", ["buffered", "streaming"])
def test_serverless_adds_the_invoke_permission_v3_lacks(printed, variant):
    """v3 emits only lambda:InvokeFunctionUrl; the file adds lambda:InvokeFunction via the URL to v3's function id."""
    code, config, stderr = printed[variant]
    assert code == 0, stderr
    assert INVOKE_VIA_URL in [r["Properties"] for r in config["resources"]["Resources"].values()
                              if r["Type"] == "AWS::Lambda::Permission"]


# -- serverless package: the artefact itself ----------------------------------------------------------

PACKAGE_COPY_IGNORE = shutil.ignore_patterns(".git", ".serverless", ".aws-sam", "node_modules", "__pycache__", "*.pyc",
                                             ".pytest_cache", ".venv", "build", "api.yaml")


def requirement_pins() -> dict[str, str]:
    """requirements.txt as {normalised distribution name: pinned version}."""
    pins = {}
    with open(path("requirements.txt")) as fh:
        for line in fh:
            match = re.match(r"\s*([A-Za-z0-9_.-]+)==([^\s;#]+)", line)
            if match:
                pins[re.sub(r"[-_.]+", "_", match[1]).lower()] = match[2]
    return pins


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> dict[str, Any]:
    """``serverless package`` of a copy of the repository, once per run: no AWS credentials, pip installs the
    arm64 wheels from PyPI. An ``api.yaml`` at the root of the copy stands for a config kept there."""
    work = tmp_path_factory.mktemp("serverless")
    service, out = work / "service", work / "out"
    shutil.copytree(ROOT, service, ignore=PACKAGE_COPY_IGNORE)
    (service / "api.yaml").write_text("providers: []\n")
    proc = subprocess.run([serverless_bin(), "package", "--package", str(out)], cwd=service, env=offline_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(out / "cloudformation-template-update-stack.json") as fh:
        template = json.load(fh)
    with zipfile.ZipFile(out / "uni-gateway.zip") as archive:
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        archive.extractall(work / "unpacked")
    return {"template": template, "files": modes, "tree": str(work / "unpacked")}


def test_serverless_package_grants_both_function_url_permissions_and_lints_clean(packaged):
    resources = packaged["template"]["Resources"]
    assert resources["ApiLambdaFunctionUrl"]["Properties"]["AuthType"] == "NONE"
    permissions = url_permissions(resources)
    assert permissions["lambda:InvokeFunctionUrl"]["FunctionUrlAuthType"] == "NONE"
    assert permissions["lambda:InvokeFunction"] == INVOKE_VIA_URL
    assert resources["ApiLambdaFunction"]["Type"] == "AWS::Lambda::Function"
    assert lint(packaged["template"]) == []


def test_serverless_package_keeps_every_requirement_metadata(packaged):
    """slim must leave *.dist-info: httpx-aiohttp reads aiohttp's version from it when imported."""
    dist_infos = {name.split("/")[0] for name in packaged["files"] if name.split("/")[0].endswith(".dist-info")}
    found = {}
    for folder in dist_infos:
        name, _, version = folder[: -len(".dist-info")].rpartition("-")
        found[re.sub(r"[-_.]+", "_", name).lower()] = version
    missing = {name: pin for name, pin in requirement_pins().items() if found.get(name) != pin}
    assert not missing, f"no dist-info (or another version) in the zip for {missing}"


def test_serverless_package_holds_the_function_and_no_other_repository_file(packaged):
    files = packaged["files"]
    assert {"shared/app.py", "shared/settings.py", "functions/aws/handler.py", "functions/aws/run.sh", "api.yaml"} <= set(files)
    assert "shared/admin/static/index.html" in PANEL_FILES and PANEL_FILES <= set(files)
    assert files["functions/aws/run.sh"] & 0o111, "run.sh must stay executable (Web Adapter runs it)"
    repository = set(os.listdir(ROOT)) - {".git"}
    packaged_from_repository = {name.split("/")[0] for name in files} & repository
    assert packaged_from_repository <= {"shared", "functions", "api.yaml", "requirements.txt"}
    assert all(name.startswith("functions/aws/") for name in files if name.startswith("functions/"))
    assert not [name for name in files if name.endswith(".pyc") or "/__pycache__/" in name]


IMPORT_CHECK = r"""
import importlib.machinery, importlib.metadata, json, sys, sysconfig
tree, names, host_copy = sys.argv[1], sys.argv[2].split(","), sys.argv[3:]

class HostCopy:
    # pydantic-core is compiled only (no pure-Python fallback): on a host that cannot load the zip's build
    # (another CPU or Python version) its own copy of the same version stands in; nothing else does.
    @staticmethod
    def find_spec(name, path=None, target=None):
        if host_copy and name.split(".")[0] == "pydantic_core":
            return importlib.machinery.PathFinder.find_spec(name, path if "." in name else host_copy)
        return None

sys.meta_path.insert(0, HostCopy)
sys.path.insert(0, tree)
versions = {name: importlib.metadata.version(name) for name in names}  # PackageNotFoundError without dist-info
import httpx_aiohttp  # reads aiohttp's version from its metadata at import
import functions.aws.handler  # the buffered door, and through it the whole gateway
import uvicorn  # the streaming door's server
stdlib = tuple(sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib"))
outside = sorted(m.__name__ for m in list(sys.modules.values()) if getattr(m, "__file__", None)
                 and not m.__file__.startswith((tree, *stdlib)))
print(json.dumps({"versions": versions, "outside": outside, "aiohttp": sys.modules["aiohttp"].__file__}))
"""


def test_serverless_package_imports_cleanly_from_the_unpacked_zip(packaged):
    """The zip alone on sys.path (-I -S: no site-packages, no PYTHONPATH), as /var/task is on Lambda."""
    tree = packaged["tree"]
    pins = requirement_pins()
    native = sys.platform == "linux" and platform.machine() in ("aarch64", "arm64") and sys.version_info[:2] == (3, 12)
    host_copy = []
    if not native:  # the zip's pydantic-core is built for linux-aarch64 CPython 3.12 only
        import pydantic_core

        zipped = [n for n in os.listdir(tree) if re.fullmatch(r"pydantic_core-[^-]+\.dist-info", n)]
        same = [f"pydantic_core-{pydantic_core.__version__}.dist-info"]
        assert zipped in ([], same), "the stand-in must be the same version"  # none: the check below names it
        assert pydantic_core.__file__
        host_copy = [os.path.dirname(os.path.dirname(pydantic_core.__file__))]
    env = {"PATH": os.environ.get("PATH", ""), "ENVIRONMENT": "production", "ADMIN_API_KEY": "sk-import-check"}
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", IMPORT_CHECK, tree, ",".join(pins), *host_copy],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["versions"] == pins
    assert result["aiohttp"].startswith(tree)
    assert [name for name in result["outside"] if not (host_copy and name.startswith("pydantic_core"))] == []


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
    for needed in ("api/index.py", "shared/app.py", "shared/vercel_paths.py", "requirements.txt", *sorted(PANEL_FILES)):
        assert not any(fnmatch.fnmatch(needed, p) for p in patterns), needed
    assert any(fnmatch.fnmatch("tests/test_smoke.py", p) for p in patterns)


def load_vercel_files():
    spec = importlib.util.spec_from_file_location("vercel_files", path("scripts", "vercel_files.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up
    spec.loader.exec_module(module)
    return module


vercel_files = load_vercel_files()
LOCAL_SECRETS = {"api.yaml": "providers: [{provider: p, api: sk-local-secret}]\n", ".env": "OPENAI_API_KEY=sk-local\n"}
FUNCTION_FILES = {"api/index.py", "shared/app.py", "shared/vercel_paths.py", "shared/settings.py", "requirements.txt",
                  "vercel.json"}


@pytest.fixture
def checkout(tmp_path):
    """A copy of the repository as a developer's checkout may hold it: with a local config and .env."""
    tree = tmp_path / "checkout"
    shutil.copytree(ROOT, tree, ignore=shutil.ignore_patterns(".git", "api.yaml", ".env"))
    for name, text in LOCAL_SECRETS.items():
        (tree / name).write_text(text)
    (tree / "shared" / "__pycache__").mkdir(exist_ok=True)
    (tree / "shared" / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"")
    return tree


def deployment(tree) -> tuple[list[str], dict[str, str]]:
    with open(tree / "vercel.json") as fh:
        config = json.load(fh)
    files = vercel_files.uploaded_files(str(tree))
    return files, vercel_files.static_routes(files, config)


def test_vercel_uploads_only_the_function(checkout):
    files, _ = deployment(checkout)
    assert FUNCTION_FILES <= set(files)
    assert "shared/admin/static/index.html" in PANEL_FILES and PANEL_FILES <= set(files)  # the panel is in the function's upload
    shared_sources = {os.path.relpath(os.path.join(d, f), checkout).replace(os.sep, "/")
                      for d, _, names in os.walk(checkout / "shared") for f in names if f.endswith(".py")}
    assert shared_sources <= set(files)  # everything api/index.py can import
    tops = {name.split("/")[0] for name in files}
    assert tops == {"api", "shared", "public", "requirements.txt", "vercel.json"}
    assert not set(LOCAL_SECRETS) & set(files)
    assert not [name for name in files if "__pycache__" in name]


def test_vercel_serves_nothing_but_public(checkout):
    _, served = deployment(checkout)
    assert served and all(file.startswith("public/") for file in served.values())
    for url_path in ("/api.yaml", "/.env", "/shared/app.py", "/tests/test_smoke.py", "/template.yaml", "/api/index.py",
                     "/shared/admin/static/index.html"):
        assert url_path not in served
    assert served.get("/robots.txt") == "public/robots.txt"


def test_vercel_check_sees_the_leak_without_the_allow_list(checkout):
    """Without .vercelignore and public/, a checkout's api.yaml is uploaded and served at /api.yaml."""
    (checkout / ".vercelignore").unlink(missing_ok=True)
    shutil.rmtree(checkout / "public", ignore_errors=True)
    files, served = deployment(checkout)
    assert "api.yaml" in files and served["/api.yaml"] == "api.yaml"
    assert served["/shared/app.py"] == "shared/app.py" and "/api/index.py" not in served


def test_vercel_output_directory_is_pinned(vercel):
    """vercel.json overrides the dashboard, where another Output Directory would serve the whole upload."""
    assert vercel["framework"] is None and vercel["outputDirectory"] == "public"
    assert "buildCommand" not in vercel and os.path.isdir(path("public"))


def test_root_requirements_keep_vercel_out_of_framework_mode():
    with open(path("requirements.txt")) as fh:
        names = {re.split(r"[=<>!~;\[ ]", line.split("#")[0].strip())[0].lower() for line in fh if line.split("#")[0].strip()}
    assert not names & {"fastapi", "flask", "functions-framework", "django"}


# -- README --------------------------------------------------------------------------------------------

def test_readme_states_each_door_limit_and_the_layer_default():
    from shared.settings import BODY_LIMITS

    with open(path("README.md")) as fh:
        readme = fh.read()
    limits = readme[readme.index("### Limits per door"):readme.index("### Vercel")]
    for door, limit in BODY_LIMITS.items():
        assert f"`{limit}`" in limits or f"{limit:,}" in limits, door
    assert "Fluid compute" in limits and "maxDuration" in limits
    assert f"default {LWA_LAYER_VERSION} = v1.1.0" in readme
