"""The Helm chart (deploy/helm/hotline): it lints strictly, every rendered document is valid
against the Kubernetes schemas, and what an operator relies on holds for every service —
hardened pods, probes, secrets only by reference, settings the services really read, and
NetworkPolicies that allow only the system's shape (DESIGN.md §1)."""

from __future__ import annotations

import base64
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from hotline_console.settings import ConsoleSettings, OidcSettings
from hotline_followup.settings import FollowupSettings
from hotline_intake.settings import IntakeSettings
from hotline_sessions.settings import SessionsSettings
from hotline_shared.settings import KafkaSettings, MongoSettings, SecuritySettings
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "hotline"
HELM = ROOT / ".local" / "bin" / "helm"
KUBE_VERSION = "1.35.0"
RELEASE, NAMESPACE = "hl", "crisis"
SERVICES = ("intake", "sessions", "followup", "console")
PORTS = {"intake": 8001, "sessions": 8002, "followup": 8003, "console": 8004}
SERVICE_SETTINGS: dict[str, tuple[type[BaseSettings], ...]] = {
    "intake": (IntakeSettings,),
    "sessions": (SessionsSettings,),
    "followup": (FollowupSettings,),
    "console": (ConsoleSettings, OidcSettings),
}
SHARED_SETTINGS = (KafkaSettings, MongoSettings, SecuritySettings)
CRD_KINDS = {"ServiceMonitor"}
SECRETISH = re.compile(r"PASSWORD|SECRET|TOKEN|MASTER_KEY|MONGODB_URI|PEPPER", re.IGNORECASE)

# Everything on: ServiceMonitor, TLS with a private CA and a client certificate, SASL with a
# principal of its own for one service, JWKS, traces, SMTP, OIDC, the Ingress, a registry.
FULL: dict[str, Any] = {
    "image": {"registry": "registry.example.org/hotline/", "tag": "1.2.3"},
    "kafka": {
        "bootstrapServers": "b-1.kafka.example.org:9096,b-2.kafka.example.org:9096",
        "topicPrefix": "prod.",
        "securityProtocol": "SASL_SSL",
        "sasl": {"mechanism": "SCRAM-SHA-256", "username": "hotline", "existingSecret": "kafka"},
        "tls": {"caSecret": "kafka-ca", "clientSecret": "kafka-client-tls"},
    },
    "auth": {"jwksUrl": "https://idp.example.org/jwks", "jwtIssuer": "https://idp.example.org"},
    "otel": {"endpoint": "http://otel-collector.observability:4318"},
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
    "ingress": {
        "enabled": True,
        "className": "nginx",
        "telephonyHost": "hooks.example.org",
        "consoleHost": "console.example.org",
    },
    "networkPolicy": {"egress": {"kafka": {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}]}}},
    "followup": {
        "publicUrl": "https://hooks.example.org",
        "smtp": {"host": "smtp.example.org", "username": "hotline", "existingSecret": "smtp"},
        "serviceToken": {"existingSecret": "followup-token"},
        "kafkaSasl": {"username": "hotline-followup", "existingSecret": "kafka-followup"},
    },
    "console": {
        "oidc": {
            "issuer": "https://idp.example.org",
            "clientId": "hotline-console",
            "existingSecret": "oidc",
        }
    },
    "sessions": {"autoscaling": {"enabled": False}, "replicaCount": 3},
}
PLAINTEXT: dict[str, Any] = {"kafka": {"securityProtocol": "PLAINTEXT"}}
VARIANTS = {"default": {}, "full": FULL, "plaintext": PLAINTEXT}


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    if not HELM.is_file():
        pytest.fail(f"{HELM.relative_to(ROOT)} is missing: `make install` builds it")
    return subprocess.run(
        [str(HELM), *args], capture_output=True, text=True, timeout=120, check=False
    )


def values_file(tmp_path: Path, values: dict[str, Any]) -> str:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return str(path)


def template(tmp_path: Path, values: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return helm(
        "template",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
        "-f",
        values_file(tmp_path, values),
    )


def render(tmp_path: Path, values: dict[str, Any]) -> list[dict[str, Any]]:
    result = template(tmp_path, values)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def docs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    return render(tmp_path_factory.mktemp("values"), VARIANTS[request.param])


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return render(tmp_path_factory.mktemp("full"), FULL)


@pytest.fixture(scope="module")
def default(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return render(tmp_path_factory.mktemp("default"), {})


def of_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def named(kind_docs: dict[str, dict[str, Any]], service: str) -> dict[str, Any]:
    return kind_docs[f"{RELEASE}-hotline-{service}"]


def pod_spec(docs: list[dict[str, Any]], service: str) -> dict[str, Any]:
    spec: dict[str, Any] = named(of_kind(docs, "Deployment"), service)["spec"]["template"]["spec"]
    return spec


def containers(spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def pod_env(docs: list[dict[str, Any]], service: str) -> dict[str, str]:
    """What the service's process sees: its ConfigMaps, then its env (secrets: stand-ins)."""
    config_maps = of_kind(docs, "ConfigMap")
    (container,) = pod_spec(docs, service)["containers"]
    env: dict[str, str] = {}
    for source in container["envFrom"]:
        env |= config_maps[source["configMapRef"]["name"]]["data"]
    stand_ins = {
        "HOTLINE_MASTER_KEY": base64.b64encode(bytes(32)).decode(),
        "HOTLINE_MONGODB_URI": "mongodb://db.example.org:27017/?replicaSet=rs0",
    }
    for var in container.get("env", []):
        env[var["name"]] = var.get("value") or stand_ins.get(var["name"], "s" * 40)
    return env


def settings_env_names(cls: type[BaseSettings]) -> set[str]:
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    names = set()
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names |= {str(choice).upper() for choice in alias.choices}
        else:
            names.add(f"{prefix}{name}".upper())
    return names


def test_chart_lints_strictly(tmp_path: Path) -> None:
    for values in VARIANTS.values():
        result = helm("lint", "--strict", str(CHART), "-f", values_file(tmp_path, values))
        assert result.returncode == 0, result.stdout + result.stderr


def test_every_rendered_document_is_valid_for_kubernetes(docs: list[dict[str, Any]]) -> None:
    assert docs
    for doc in docs:
        if doc["kind"] in CRD_KINDS:
            continue  # no bundled schema: test_service_monitors_scrape_metrics checks them
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")


def test_schema_validation_catches_a_broken_document(default: list[dict[str, Any]]) -> None:
    broken = named(of_kind(default, "Deployment"), "intake")
    broken = {**broken, "spec": {**broken["spec"], "replicas": "two"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBE_VERSION, strict=True)


def test_each_service_has_deployment_service_budget_autoscaler_policy(
    docs: list[dict[str, Any]],
) -> None:
    kinds = ("Deployment", "Service", "PodDisruptionBudget", "NetworkPolicy", "ServiceAccount")
    for service in SERVICES:
        for kind in kinds:
            assert f"{RELEASE}-hotline-{service}" in of_kind(docs, kind), (kind, service)
    assert not of_kind(docs, "Secret"), "the chart refers to Secrets; it never creates one"


def test_every_service_autoscales_by_default(default: list[dict[str, Any]]) -> None:
    hpas = of_kind(default, "HorizontalPodAutoscaler")
    assert sorted(hpas) == sorted(f"{RELEASE}-hotline-{service}" for service in SERVICES)
    for hpa in hpas.values():
        assert hpa["spec"]["maxReplicas"] > hpa["spec"]["minReplicas"] >= 2


def test_autoscaler_owns_replicas_unless_it_is_off(full: list[dict[str, Any]]) -> None:
    hpas, deployments = of_kind(full, "HorizontalPodAutoscaler"), of_kind(full, "Deployment")
    for service in ("intake", "followup", "console"):
        hpa = named(hpas, service)
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"]["name"] == f"{RELEASE}-hotline-{service}"
        assert hpa["spec"]["minReplicas"] >= 2
        assert "replicas" not in named(deployments, service)["spec"]
    assert f"{RELEASE}-hotline-sessions" not in hpas
    assert named(deployments, "sessions")["spec"]["replicas"] == 3


def test_services_and_budgets_select_their_own_pods(docs: list[dict[str, Any]]) -> None:
    for service in SERVICES:
        pod_labels = named(of_kind(docs, "Deployment"), service)["spec"]["template"]["metadata"]
        svc = named(of_kind(docs, "Service"), service)["spec"]
        pdb = named(of_kind(docs, "PodDisruptionBudget"), service)["spec"]
        for selector in (svc["selector"], pdb["selector"]["matchLabels"]):
            assert selector.items() <= pod_labels["labels"].items()
            assert selector["app.kubernetes.io/component"] == service
        assert svc["ports"] == [
            {"name": "http", "port": PORTS[service], "targetPort": "http", "protocol": "TCP"}
        ]


def test_every_container_is_hardened(docs: list[dict[str, Any]]) -> None:
    for service in SERVICES:
        spec = pod_spec(docs, service)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec["automountServiceAccountToken"] is False
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in containers(spec):
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True
            assert context.get("runAsUser", spec["securityContext"].get("runAsUser")) != 0
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context.get("privileged", False) is False
            assert context["capabilities"] == {"drop": ["ALL"]}
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}
            assert container["resources"]["requests"] and container["resources"]["limits"]
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], "a writable /tmp"


def test_probes_ask_healthz_and_readyz_on_the_service_port(docs: list[dict[str, Any]]) -> None:
    for service in SERVICES:
        (container,) = pod_spec(docs, service)["containers"]
        assert container["ports"] == [
            {"name": "http", "containerPort": PORTS[service], "protocol": "TCP"}
        ]
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["startupProbe"]["httpGet"]["path"] == "/healthz"


def test_images_are_one_per_service_tagged_with_the_app_version(
    default: list[dict[str, Any]], full: list[dict[str, Any]]
) -> None:
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    for service in SERVICES:
        (plain,) = pod_spec(default, service)["containers"]
        assert plain["image"] == f"hotline-{service}:{app_version}"
        assert (ROOT / "services" / service / "Dockerfile").is_file()
        (custom,) = pod_spec(full, service)["containers"]
        assert custom["image"] == f"registry.example.org/hotline/hotline-{service}:1.2.3"


def test_values_yaml_holds_no_secret_value() -> None:
    references = {
        "existingSecret",
        "existingConfigMap",
        "caSecret",
        "caConfigMap",
        "clientSecret",
        "imagePullSecrets",
    }

    def leaves(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
        if isinstance(node, dict):
            for key, value in node.items():
                yield from leaves(value, (*path, str(key)))
        else:
            yield path, node

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    secretish = re.compile(r"password|secret|token|masterkey|pepper|uri$", re.IGNORECASE)
    for path, value in leaves(values):
        if any(secretish.search(part) for part in path):
            leaf = path[-1]
            is_reference = leaf in references or leaf.endswith("Key") or leaf == "key"
            assert is_reference, f"{'.'.join(path)} looks like a secret value: {value!r}"
    text = (CHART / "values.yaml").read_text()
    dev = (ROOT / "deploy" / "local" / "dev.env").read_text() + (
        ROOT / "deploy" / "local" / "centers.yaml"
    ).read_text()
    for secret in re.findall(r"(?:=|: )(dev-[\w-]+|[A-Za-z0-9+/]{40,}=*)", dev):
        assert secret not in text


def test_secrets_reach_pods_only_from_secret_references(docs: list[dict[str, Any]]) -> None:
    for config_map in of_kind(docs, "ConfigMap").values():
        leaked = [k for k in config_map["data"] if SECRETISH.search(k)]
        assert not leaked, f"{config_map['metadata']['name']} carries secrets: {leaked}"
    for service in SERVICES:
        (container,) = pod_spec(docs, service)["containers"]
        for var in container["env"]:
            if SECRETISH.search(var["name"]):
                assert "value" not in var and "secretKeyRef" in var["valueFrom"], var["name"]


def test_every_setting_is_one_the_service_reads_and_parses(
    docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = set().union(*(settings_env_names(cls) for cls in SHARED_SETTINGS))
    for service in SERVICES:
        env = pod_env(docs, service)
        own = set().union(*(settings_env_names(cls) for cls in SERVICE_SETTINGS[service]))
        unknown = {k for k in env if k.startswith("HOTLINE_") and k not in shared | own} | {
            k for k in env if not k.startswith(("HOTLINE_", "OTEL_"))
        }
        assert not unknown, f"{service} is given settings it does not read: {unknown}"
        for name in [k for k in os.environ if k.startswith(("HOTLINE_", "OTEL_"))]:
            monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for cls in (*SHARED_SETTINGS, *SERVICE_SETTINGS[service]):
            cls()  # raises when a value does not parse or a required one is missing
        port = SERVICE_SETTINGS[service][0]().model_dump()["port"]
        assert port == PORTS[service]


def test_kafka_tls_and_sasl_come_from_mounted_and_referenced_secrets(
    full: list[dict[str, Any]],
) -> None:
    for service in SERVICES:
        env, spec = pod_env(full, service), pod_spec(full, service)
        mounted = {m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        for file_var in ("HOTLINE_KAFKA_SSL_CAFILE", "HOTLINE_KAFKA_SSL_CERTFILE"):
            assert str(Path(env[file_var]).parent) in mounted
        assert Path(env["HOTLINE_CENTERS_FILE"]).parent.as_posix() in mounted
        assert env["HOTLINE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
        assert env["HOTLINE_KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-256"
        refs = {v["name"]: v["valueFrom"]["secretKeyRef"] for v in spec["containers"][0]["env"]}
        expected = "kafka-followup" if service == "followup" else "kafka"
        assert refs["HOTLINE_KAFKA_SASL_PASSWORD"]["name"] == expected
        assert "HOTLINE_JWT_SECRET" not in refs, "JWKS configured: no shared HS256 key"


def test_plaintext_kafka_gets_no_sasl_settings(tmp_path: Path) -> None:
    docs = render(tmp_path, PLAINTEXT)
    for service in SERVICES:
        assert not {k for k in pod_env(docs, service) if "SASL" in k or "SSL_" in k}


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kafka": {"sasl": {"existingSecret": ""}}}, "kafka.sasl.existingSecret"),
        ({"auth": {"jwksUrl": "https://idp.example.org/jwks"}}, "auth.jwtIssuer"),
        ({"kafka": {"securityProtocol": "TLS"}}, "kafka.securityProtocol"),
        ({"centers": {"existingSecret": ""}}, "centers.existingSecret"),
        ({"networkPolicy": {"egress": {"kafka": {"ports": []}}}}, "opens every port"),
    ],
)
def test_values_that_cannot_work_stop_the_release(
    tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    result = template(tmp_path, values)
    assert result.returncode != 0
    assert message in result.stderr


def test_service_monitors_scrape_metrics(full: list[dict[str, Any]], default: Any) -> None:
    assert not of_kind(default, "ServiceMonitor"), "off by default"
    services = of_kind(full, "Service")
    for service in SERVICES:
        monitor = named(of_kind(full, "ServiceMonitor"), service)
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "prom"
        target = named(services, service)
        assert monitor["spec"]["selector"]["matchLabels"].items() <= (
            target["metadata"]["labels"].items()
        )
        assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["path"] == "/metrics"
        assert endpoint["port"] in {p["name"] for p in target["spec"]["ports"]}
        assert re.fullmatch(r"\d+[smh]", endpoint["interval"])


def peers_of(rules: list[dict[str, Any]], key: str) -> set[str]:
    """The hotline components named by pod selectors in rules (`from` or `to`)."""
    return {
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for rule in rules
        for peer in rule.get(key, [])
        if "app.kubernetes.io/component" in peer.get("podSelector", {}).get("matchLabels", {})
    }


def from_namespace(rules: list[dict[str, Any]], namespace: str) -> bool:
    return any(
        peer.get("namespaceSelector", {}).get("matchLabels")
        == {"kubernetes.io/metadata.name": namespace}
        for rule in rules
        for peer in rule.get("from", [])
    )


def test_network_policies_allow_only_the_system_shape(
    default: list[dict[str, Any]], full: list[dict[str, Any]]
) -> None:
    callers = {
        "intake": {"console", "followup"},
        "sessions": {"console"},
        "followup": {"console"},
        "console": set(),
    }
    callees = {
        "intake": set(),
        "sessions": set(),
        "followup": {"intake"},
        "console": {"intake", "sessions", "followup"},
    }
    public = {"default": {"intake", "console"}, "full": {"intake", "followup", "console"}}
    for variant, docs in (("default", default), ("full", full)):
        policies = of_kind(docs, "NetworkPolicy")
        for service in SERVICES:
            spec = named(policies, service)["spec"]
            assert spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == service
            assert sorted(spec["policyTypes"]) == ["Egress", "Ingress"]
            ingress, egress = spec.get("ingress") or [], spec["egress"]
            assert all(rule.get("from") for rule in ingress), "an ingress rule open to all"
            assert all(rule.get("ports") for rule in ingress + egress), "a rule on every port"
            assert peers_of(ingress, "from") == callers[service]
            assert peers_of(egress, "to") == callees[service]
            assert from_namespace(ingress, "ingress-nginx") == (service in public[variant])
            assert from_namespace(ingress, "monitoring") == (variant == "full"), "scrapes"


def egress_ports(docs: list[dict[str, Any]], service: str) -> set[int]:
    spec = named(of_kind(docs, "NetworkPolicy"), service)["spec"]
    return {port["port"] for rule in spec["egress"] for port in rule["ports"]}


def test_egress_reaches_only_configured_dependencies(
    default: list[dict[str, Any]], full: list[dict[str, Any]]
) -> None:
    for service in SERVICES:
        assert {53, 9093, 27017} <= egress_ports(default, service)
        assert 4318 not in egress_ports(default, service), "no collector configured"
        assert 4318 in egress_ports(full, service)
    assert 587 in egress_ports(full, "followup") and 587 not in egress_ports(default, "followup")
    assert 443 not in egress_ports(default, "sessions"), "no identity provider configured"
    assert 443 in egress_ports(full, "sessions")
    kafka_rules = [
        rule
        for rule in named(of_kind(full, "NetworkPolicy"), "intake")["spec"]["egress"]
        if {"port": 9093, "protocol": "TCP"} in rule["ports"]
    ]
    assert kafka_rules == [
        {
            "ports": [{"port": 9093, "protocol": "TCP"}],
            "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
        }
    ]


def test_ingress_exposes_only_webhooks_and_the_console(full: list[dict[str, Any]]) -> None:
    (ingress,) = of_kind(full, "Ingress").values()
    routes = {
        (rule["host"], path["path"]): path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert routes == {
        ("hooks.example.org", "/v1/telephony/"): f"{RELEASE}-hotline-intake",
        ("hooks.example.org", "/v1/messaging/twilio/"): f"{RELEASE}-hotline-followup",
        ("console.example.org", "/"): f"{RELEASE}-hotline-console",
    }
    assert pod_env(full, "console")["HOTLINE_CONSOLE_PUBLIC_URL"] == "https://console.example.org"
