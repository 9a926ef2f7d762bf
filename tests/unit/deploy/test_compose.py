"""docker-compose.yml cannot run here; this keeps it in step with the settings classes."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from typing import Any

import pytest
import yaml
from hotline_console.settings import ConsoleSettings, OidcSettings
from hotline_followup.settings import FollowupSettings
from hotline_intake.settings import IntakeSettings
from hotline_sessions.settings import SessionsSettings
from hotline_shared.settings import KafkaSettings, MongoSettings, SecuritySettings
from pydantic_settings import BaseSettings

from tests.support import ROOT

COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = {"intake": (IntakeSettings, 8001), "sessions": (SessionsSettings, 8002),
            "followup": (FollowupSettings, 8003), "console": (ConsoleSettings, 8004)}  # fmt: skip


def env_names(settings: type[BaseSettings]) -> set[str]:
    prefix = settings.model_config.get("env_prefix", "")
    return {f"{prefix}{name}".upper() for name in settings.model_fields}


KNOWN = set().union(
    *(env_names(s) for s in (KafkaSettings, MongoSettings, SecuritySettings, OidcSettings)),
    {"HOTLINE_DEV_LOGIN"},  # ConsoleSettings.dev_login's name
    *(env_names(s) for s, _ in SERVICES.values()),
)


def test_compose_has_the_infrastructure_on_real_images() -> None:
    services = COMPOSE["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    assert services["mongo"]["image"] == "mongo:8"
    assert "--replSet" in services["mongo"]["command"]
    for name in ("kafka", "mongo"):
        assert "healthcheck" in services[name]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_is_built_from_its_dockerfile_on_its_port(name: str) -> None:
    settings_cls, port = SERVICES[name]
    service = COMPOSE["services"][name]
    dockerfile = service["build"]["dockerfile"]
    assert dockerfile == f"services/{name}/Dockerfile"
    assert f"hotline_{name}" in (ROOT / dockerfile).read_text()
    assert service["ports"] == [f"{port}:{port}"]
    assert settings_cls().port == port
    assert service["environment"][f"HOTLINE_{name.upper()}_PORT"] == str(port)
    assert "healthcheck" in service and f":{port}/readyz" in str(service["healthcheck"])


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_variable_a_service_gets_is_one_the_settings_read(name: str) -> None:
    env = COMPOSE["services"][name]["environment"]
    unknown = set(env) - KNOWN
    assert not unknown, f"{name}: variables no settings class reads: {unknown}"
    for required in ("HOTLINE_KAFKA_BOOTSTRAP", "HOTLINE_MONGODB_URI", "HOTLINE_CENTERS_FILE"):
        assert required in env


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_compose_has_no_secret_values_only_references_to_the_env_file(name: str) -> None:
    env = COMPOSE["services"][name]["environment"]
    for secret in ("HOTLINE_JWT_SECRET", "HOTLINE_MASTER_KEY"):
        assert env[secret].startswith(f"${{{secret}:?"), f"{name}: {secret} must come from .env"
    assert "dev-only" not in (ROOT / "docker-compose.yml").read_text()


# ---- Kafka: one listener for the compose network, one for the host -------------------------


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """`NAME://host:port,...` as {NAME: (host, port)} (an empty host: every interface)."""
    found = {}
    for item in value.split(","):
        name, _, address = item.strip().partition("://")
        host, _, port = address.rpartition(":")
        found[name] = (host, int(port))
    return found


def published(service: dict[str, Any]) -> dict[int, int]:
    """{container port: host port} of `ports:`."""
    mapping = {}
    for entry in service.get("ports", []):
        *_, host, container = str(entry).split(":")
        mapping[int(container)] = int(host)
    return mapping


def test_kafka_has_an_internal_listener_for_the_services_and_a_host_listener_for_host_tools() -> None:  # fmt: skip
    kafka = COMPOSE["services"]["kafka"]
    env = kafka["environment"]
    bound, advertised = listeners(env["KAFKA_LISTENERS"]), listeners(env["KAFKA_ADVERTISED_LISTENERS"])  # fmt: skip
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(bound) <= set(protocols), "every listener has a security protocol"
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] not in advertised, "clients never see the controller"  # fmt: skip
    for name, (_, port) in advertised.items():
        assert name in bound and bound[name][1] == port, f"{name} is advertised on a port it binds"
    [internal] = [n for n, (host, _) in advertised.items() if host == "kafka"]
    [external] = [n for n, (host, _) in advertised.items() if host in ("localhost", "127.0.0.1")]
    internal_port, external_port = advertised[internal][1], advertised[external][1]
    assert internal_port != external_port
    assert env.get("KAFKA_INTER_BROKER_LISTENER_NAME") == internal
    # host tools: the advertised address is published on the same port, and is the default
    assert published(kafka).get(external_port) == external_port
    default = KafkaSettings.model_fields["bootstrap"].default
    assert default.rpartition(":")[2] == str(external_port)
    # the services: the internal listener, by the compose service name
    for name in SERVICES:
        assert COMPOSE["services"][name]["environment"]["HOTLINE_KAFKA_BOOTSTRAP"] == f"kafka:{internal_port}"  # fmt: skip
    assert f"kafka:{internal_port}" in str(kafka["healthcheck"]["test"])


# ---- MongoDB: healthy only as a writable primary -------------------------------------------

MONGO_STUBS = r"""
const vm = require("vm");
const [script, scenario] = [process.argv[1], JSON.parse(process.argv[2])];
const calls = [];
class Quit { constructor(code) { this.code = code ?? 0; } }
const quit = (code) => { throw new Quit(code); };
const context = {
  rs: {
    status() {
      calls.push(["status"]);
      if (!scenario.initiated) {
        const error = new Error("no replset config has been received");
        error.codeName = "NotYetInitialized";
        throw error;
      }
      return { ok: 1, set: "rs0" };
    },
    initiate(config) { calls.push(["initiate", config]); return { ok: 1 }; },
  },
  db: { hello() { calls.push(["hello"]); return { isWritablePrimary: scenario.primary }; } },
  quit, exit: quit, print() {}, printjson() {},
};
let code = 0;
try { vm.runInNewContext(script, context); }
catch (e) { code = e instanceof Quit ? e.code : 99; }  // an uncaught error: mongosh exits 1
console.log(JSON.stringify({ code, calls }));
"""


def mongo_check_script() -> str:
    test = COMPOSE["services"]["mongo"]["healthcheck"]["test"]
    command = test[1] if test[0] == "CMD-SHELL" else shlex.join(test[1:])
    argv = shlex.split(command)
    assert argv[0] == "mongosh" and "--eval" in argv, command
    return argv[argv.index("--eval") + 1]


def run_mongo_check(initiated: bool, primary: bool) -> dict[str, Any]:
    """The healthcheck's mongosh script, run by Node against a stand-in `rs` and `db`."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    scenario = json.dumps({"initiated": initiated, "primary": primary})
    out = subprocess.run(["node", "-e", MONGO_STUBS, mongo_check_script(), scenario],
                         capture_output=True, text=True, timeout=30, check=True)  # fmt: skip
    return dict(json.loads(out.stdout))


def test_the_mongodb_healthcheck_asks_whether_the_member_is_the_writable_primary() -> None:
    script = mongo_check_script()
    assert "isWritablePrimary" in script
    assert "rs.initiate" in script


def test_the_mongodb_healthcheck_initiates_the_replica_set_and_fails_until_it_is_primary() -> None:
    first = run_mongo_check(initiated=False, primary=False)
    assert first["code"] != 0, "a member that was just initiated is not primary yet"
    [initiate] = [call for call in first["calls"] if call[0] == "initiate"]
    config = initiate[1]
    mongo = COMPOSE["services"]["mongo"]
    replica_set = mongo["command"][mongo["command"].index("--replSet") + 1]
    uri = COMPOSE["services"]["intake"]["environment"]["HOTLINE_MONGODB_URI"]
    assert config["_id"] == replica_set and f"replicaSet={replica_set}" in uri
    assert [m["host"] for m in config["members"]] == [uri.split("//")[1].split("/")[0]]


@pytest.mark.parametrize(("initiated", "primary", "healthy"), [(True, False, False), (True, True, True)])  # fmt: skip
def test_the_mongodb_healthcheck_is_healthy_only_while_primary(
    initiated: bool, primary: bool, healthy: bool
) -> None:
    result = run_mongo_check(initiated=initiated, primary=primary)
    assert (result["code"] == 0) is healthy, result
    assert not any(call[0] == "initiate" for call in result["calls"]), "initiated only once"


# ---- secrets: from .env, never in docker-compose.yml ---------------------------------------

ALL_SETTINGS: tuple[type[BaseSettings], ...] = (KafkaSettings, MongoSettings, SecuritySettings, OidcSettings,
                *(s for s, _ in SERVICES.values()))  # fmt: skip
SECRET_NAMES = {
    f"{settings.model_config.get('env_prefix', '')}{name}".upper()
    for settings in ALL_SETTINGS
    for name, info in settings.model_fields.items()
    if "SecretStr" in str(info.annotation)
}
SECRET_LOOKING = re.compile(r"(SECRET|PASSWORD|TOKEN|_KEY|PEPPER)$")
REFERENCE = re.compile(r"^\$\{(?P<name>[A-Z0-9_]+)(?::?[?-].*)?\}$", re.DOTALL)


def strings(node: Any) -> list[str]:
    """Every string in the loaded compose file (comments are not in it)."""
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in (str(k), *strings(v))]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return [node] if isinstance(node, str) else []


REFERENCED = {m for s in strings(COMPOSE) for m in re.findall(r"\$\{([A-Z0-9_]+)", s)}
REQUIRED = {m for s in strings(COMPOSE) for m in re.findall(r"\$\{([A-Z0-9_]+):\?", s)}
ENV_EXAMPLE = ROOT / ".env.example"


def test_the_settings_still_have_the_secrets_this_file_knows() -> None:
    assert {"HOTLINE_JWT_SECRET", "HOTLINE_MASTER_KEY", "HOTLINE_KAFKA_SASL_PASSWORD",
            "HOTLINE_FOLLOWUP_SERVICE_TOKEN", "HOTLINE_OIDC_CLIENT_SECRET"} <= SECRET_NAMES  # fmt: skip
    assert {"HOTLINE_JWT_SECRET", "HOTLINE_MASTER_KEY"} <= REQUIRED


@pytest.mark.parametrize("name", sorted(COMPOSE["services"]))
def test_every_secret_a_container_gets_is_a_reference_to_the_env_file(name: str) -> None:
    env = COMPOSE["services"][name].get("environment", {})
    for variable, value in env.items():
        if variable in SECRET_NAMES or SECRET_LOOKING.search(variable):
            match = REFERENCE.match(str(value))
            assert match and match["name"] == variable, f"{name}: {variable} is written in the file"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_reads_the_env_file(name: str) -> None:
    env_file = COMPOSE["services"][name].get("env_file")
    files = [env_file] if isinstance(env_file, str | dict) else env_file or []
    paths = [f["path"] if isinstance(f, dict) else f for f in files]
    assert ".env" in paths or "./.env" in paths, f"{name}: optional secrets (SASL, tokens) come from .env"  # fmt: skip


def secret_values() -> set[str]:
    """The development secrets (dev.env, the dev centers file): none may appear in compose."""
    values = set()
    for line in (ROOT / "deploy" / "local" / "dev.env").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#") and SECRET_LOOKING.search(name.strip()):
            values.add(value.strip())

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and SECRET_LOOKING.search(key.upper()):
            values.add(node)

    walk(yaml.safe_load((ROOT / "deploy" / "local" / "centers.yaml").read_text()))
    return {v for v in values if len(v) >= 8}


def test_no_secret_value_is_written_in_compose() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    found = secret_values()
    assert len(found) >= 3, "the development secrets were found to compare with"
    assert not [v for v in found if v in text]


def git(*args: str) -> int:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, check=False).returncode


def test_env_is_ignored_by_git_and_its_example_is_not() -> None:
    assert git("check-ignore", "-q", ".env") == 0, ".env must be in .gitignore"
    assert git("check-ignore", "-q", ".env.example") == 1, ".env.example is committed"
    assert ENV_EXAMPLE.exists()


def example_assignments() -> dict[str, tuple[str, bool]]:
    """{NAME: (value, commented out)} of .env.example."""
    found = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        commented = line.startswith("#")
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            found[match[1]] = (match[2].strip(), commented)
    return found


def test_env_example_names_every_variable_compose_reads_and_every_secret() -> None:
    assigned = example_assignments()
    assert set(assigned) >= REFERENCED, f"not in .env.example: {REFERENCED - set(assigned)}"
    for name in REQUIRED:
        assert not assigned[name][1], f"{name} is required: not commented out in .env.example"
    assert set(assigned) >= SECRET_NAMES, f"not in .env.example: {SECRET_NAMES - set(assigned)}"


def test_env_example_holds_no_secret_value() -> None:
    for name, (value, _) in example_assignments().items():
        if name in SECRET_NAMES or SECRET_LOOKING.search(name):
            assert value == "", f".env.example gives {name} a value"
    text = ENV_EXAMPLE.read_text()
    assert not [v for v in secret_values() if v in text]
