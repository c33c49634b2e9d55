"""The deployment files in deploy/: schema checks (offline) and what the schemas cannot see.

* Kubernetes (deploy/k8s): every manifest against the Kubernetes JSON schemas shipped inside the
  ``kubernetes-validate`` wheel (strict: unknown fields are errors), for the oldest and the newest
  Kubernetes version we claim; then the semantics: probes on /healthz, the GPU request, HPA
  target and metrics, Service/PDB/NetworkPolicy selectors, Ingress against WEBHOOK_URL,
  references to ConfigMaps and Secrets, and every environment variable against the code.
* Compose (deploy/compose.yaml): the compose-spec JSON schema vendored in ``check-jsonschema``,
  then the same kind of semantics (GPU reservation, /healthz healthcheck, DB volume, variables).
  ``docker compose config`` too where a compose plugin is installed (not on CI's machine).
* systemd (deploy/systemd): ``systemd-analyze verify`` where present, and a parser check.
* Dockerfiles: non-root user, what they copy exists and passes the ignore file, their packages
  come from uv.lock (``uv export --frozen`` of their extras, ``pip install --require-hashes``,
  no pin of their own), and each image's packages cover every package its entry point imports.
* uv.lock: it matches pyproject.toml (``uv lock --check``, offline), holds no GUI OpenCV, and its
  resolution of ``[bot]`` has no torch, Ultralytics or OpenCV, of ``[service]`` no torch or
  Ultralytics.

No check needs the network: the schema tests run with sockets disabled, uv runs ``--offline``. Each checker returns a
list of problems; the tests assert it is empty for the real files and that a broken copy is
caught, so every check can fail.
"""
from __future__ import annotations

import ast
import copy
import fnmatch
import functools
import importlib
import importlib.metadata
import importlib.resources
import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, latest_version
from packaging.markers import Marker, default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bot.webhook import HEALTH_PATH

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
SYSTEMD = DEPLOY / "systemd"
DOCKER = DEPLOY / "docker"

#: Oldest Kubernetes the manifests claim (autoscaling/v2, policy/v1 PDB, Ingress v1 are older)
#: and the newest whose schemas the installed kubernetes-validate ships.
K8S_VERSIONS = ("1.29", latest_version())
NAMESPACE = "selfcheck"
#: API groups of custom resources: no schema in kubernetes-validate, semantic checks only.
CRD_GROUPS = {"monitoring.coreos.com"}
#: Our images (their containers' variables must be ones the code reads).
OUR_IMAGES = ("selfcheck/bot", "selfcheck/inference", "selfcheck-bot", "selfcheck-inference")
#: Variables read by libraries or Python itself, set in the deployment files on purpose.
THIRD_PARTY_ENV = {
    "PATH", "HOME", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE",
    "PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK",  # pip, at image build time
    "YOLO_OFFLINE", "YOLO_CONFIG_DIR",  # Ultralytics: no downloads, a writable settings folder
    "MPLCONFIGDIR",  # matplotlib's cache on a read-only root file system
}
#: Variables of compose itself (image tag) and of the postgres image in the optional profile.
COMPOSE_ONLY_ENV = {"SELFCHECK_VERSION", "POSTGRES_PASSWORD"}
GPU = "nvidia.com/gpu"
#: The bot webhook server's health route, which the bot's readiness and startup probes use.
BOT_HEALTH_PATH = HEALTH_PATH


# ---------------------------------------------------------------------------------------------
# What the code reads and exports
# ---------------------------------------------------------------------------------------------


class _RecordingEnv(dict):
    """An empty environment that remembers every variable a ``from_env`` asks for."""

    def __init__(self) -> None:
        super().__init__()
        self.read: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return default

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return False


#: Training, benchmarks and the developer tools: their variables are no deployment settings.
DEV_SOURCES = ("inference/train/", "inference/bench", "inference/evaluate")
_ENVIRON_READ = re.compile(
    r"""environ(?:\.get\(|\[)\s*["']([A-Z][A-Z0-9_]*)["']|getenv\(\s*["']([A-Z][A-Z0-9_]*)["']"""
)


def code_env_vars() -> set[str]:
    """Every variable bot/ and inference/ read: both ``Settings.from_env`` (run against a
    recording environment, so a new setting is picked up by itself) and direct
    ``os.environ`` reads in the source (WEIGHTS_DIR in inference/paths.py)."""
    from bot.settings import Settings as BotSettings
    from bot.settings import SettingsError
    from inference.service.settings import Settings as ServiceSettings

    env = _RecordingEnv()
    with pytest.raises(SettingsError):  # no token: raised after every variable was read
        BotSettings.from_env(env)
    ServiceSettings.from_env(env)
    found = set(env.read)
    for package in ("bot", "inference"):
        for path in (ROOT / package).rglob("*.py"):
            if path.relative_to(ROOT).as_posix().startswith(DEV_SOURCES):
                continue
            for match in _ENVIRON_READ.finditer(path.read_text(encoding="utf-8")):
                found.add(match.group(1) or match.group(2))
    found.discard("SHARED_DIR")  # training data for tests and training, never for the product
    return found


@pytest.fixture(scope="module")
def code_env() -> set[str]:
    names = code_env_vars()
    # the recorder must see the real settings, or every variable check would pass vacuously
    assert {"TELEGRAM_BOT_TOKEN", "INFERENCE_URL", "WEBHOOK_SECRET", "INFERENCE_PORT",
            "INFERENCE_API_KEY", "WEIGHTS_DIR", "BOT_DB_PATH"} <= names
    return names


def exported_metrics() -> set[str]:
    """Series names GET /metrics can show (inference/service/metrics.py), with their suffixes."""
    from inference.service.metrics import Metrics

    names = set()
    for family in Metrics().registry.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + s for s in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def service_routes() -> set[str]:
    """Paths of the service's routes (``web.get("/healthz", ...)``: inference/service/routes.py)."""
    text = "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "inference/service").glob("*.py")))
    routes = set(re.findall(r"""web\.(?:get|post|put|delete)\(\s*["']([^"']+)["']""", text))
    assert {"/healthz", "/metrics"} <= routes, "the route scan found too little"
    return routes


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


@pytest.fixture()
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to resolve or connect fails the test: the schemas must be local."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"network use during an offline check: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def load_yaml_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def k8s_files() -> list[Path]:
    files = sorted(K8S.glob("*.yaml")) + sorted((K8S / "monitoring").glob("*.yaml"))
    return [f for f in files if f.name != "kustomization.yaml" and "values" not in f.name]


def k8s_docs() -> list[dict]:
    return [doc for f in k8s_files() for doc in load_yaml_docs(f)]


def _group(doc: dict) -> str:
    api = doc.get("apiVersion", "")
    return api.split("/")[0] if "/" in api else ""


def _pod_spec(workload: dict) -> dict:
    return workload["spec"]["template"]["spec"]


def _pod_labels(workload: dict) -> dict:
    return workload["spec"]["template"]["metadata"].get("labels", {})


def _matches(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _is_ours(container: dict) -> bool:
    return any(name in container.get("image", "") for name in OUR_IMAGES)


def _is_inference(container: dict) -> bool:
    return "inference" in container.get("image", "")


def _is_bot(container: dict) -> bool:
    return "selfcheck/bot" in container.get("image", "") or "selfcheck-bot" in container.get("image", "")


def _quantity(value: Any) -> int:
    return int(str(value))


# ---------------------------------------------------------------------------------------------
# Kubernetes: schema
# ---------------------------------------------------------------------------------------------


def k8s_schema_errors(doc: dict, version: str) -> list[str]:
    if _group(doc) in CRD_GROUPS:
        return []
    where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')} (k8s {version})"
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        path = ".".join(str(p) for p in e.path)
        return [f"{where}: {path}: {e.message}"]
    except SchemaNotFoundError as e:
        return [f"{where}: {e.message}"]
    return []


# ---------------------------------------------------------------------------------------------
# Kubernetes: semantics
# ---------------------------------------------------------------------------------------------


def adapter_rules() -> list[dict]:
    values = yaml.safe_load((K8S / "monitoring/prometheus-adapter-values.yaml").read_text(encoding="utf-8"))
    return values["rules"]["custom"]


def adapter_problems(rules: list[dict], metrics: set[str], routes: set[str]) -> list[str]:
    problems = []
    for rule in rules:
        series = rule["seriesQuery"]
        name = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", series).group(0)
        if name not in metrics:
            problems.append(f"adapter rule reads {name}, which /metrics does not export")
        for route in re.findall(r'route="([^"]+)"', series + rule.get("metricsQuery", "")):
            if route not in routes:
                problems.append(f"adapter rule filters on route {route}, not a route of the service")
        if not re.fullmatch(rule["name"]["matches"], name):
            problems.append(f"adapter rule name.matches does not match {name}")
    return problems


def k8s_problems(docs: list[dict], code_env: set[str], metrics: set[str],
                 adapter_metrics: set[str]) -> list[str]:
    problems: list[str] = []
    by_kind: dict[str, dict[str, dict]] = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
        if doc["kind"] != "Namespace" and doc["metadata"].get("namespace") != NAMESPACE:
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: namespace is not {NAMESPACE}")
    workloads = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}
    configmaps = {n: d.get("data", {}) for n, d in by_kind.get("ConfigMap", {}).items()}
    secrets = {n: {**d.get("data", {}), **d.get("stringData", {})} for n, d in by_kind.get("Secret", {}).items()}
    services = by_kind.get("Service", {})

    def container_env(container: dict) -> dict[str, Any]:
        """name -> literal value, or ('secret', name, key) / ('configmap', name, key)."""
        env: dict[str, Any] = {}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                ref = source["configMapRef"]["name"]
                if ref not in configmaps:
                    problems.append(f"container {container['name']}: envFrom ConfigMap {ref} does not exist")
                env.update({k: v for k, v in configmaps.get(ref, {}).items()})
            if "secretRef" in source:
                ref = source["secretRef"]["name"]
                if ref not in secrets:
                    problems.append(f"container {container['name']}: envFrom Secret {ref} does not exist")
                env.update({k: ("secret", ref, k) for k in secrets.get(ref, {})})
        for item in container.get("env", []):
            value_from = item.get("valueFrom", {})
            for kind, table in (("secretKeyRef", secrets), ("configMapKeyRef", configmaps)):
                if kind in value_from:
                    ref = value_from[kind]
                    if ref["key"] not in table.get(ref["name"], {}):
                        problems.append(f"container {container['name']}: {item['name']} refers to "
                                        f"{ref['name']}/{ref['key']}, which does not exist")
                    env[item["name"]] = ("secret" if kind == "secretKeyRef" else "configmap", ref["name"], ref["key"])
            if "value" in item:
                env[item["name"]] = item["value"]
        return env

    def port_names(workload: dict) -> dict[str, int]:
        return {p["name"]: p["containerPort"] for c in _pod_spec(workload)["containers"]
                for p in c.get("ports", []) if "name" in p}

    def check_probe(where: str, probe: dict | None, kind: str, container: dict, path: str | None) -> None:
        if not probe:
            problems.append(f"{where}: no {kind}")
            return
        action = probe.get("httpGet") or probe.get("tcpSocket") or probe.get("grpc") or probe.get("exec")
        if path is not None and probe.get("httpGet", {}).get("path") != path:
            problems.append(f"{where}: {kind} is not an HTTP GET of {path}")
        port = (action or {}).get("port")
        ports = {p.get("name") for p in container.get("ports", [])} | {
            p["containerPort"] for p in container.get("ports", [])
        }
        if port is not None and port not in ports:
            problems.append(f"{where}: {kind} uses port {port}, which the container does not expose")

    bot_env: dict[str, Any] = {}
    for name, workload in workloads.items():
        pod = _pod_spec(workload)
        where = f"{workload['kind']}/{name}"
        if pod.get("enableServiceLinks") is not False:
            problems.append(f"{where}: enableServiceLinks must be false (service variables like "
                            "SELFCHECK_INFERENCE_PORT=tcp://... beside our settings)")
        for container in pod["containers"]:
            cwhere = f"{where} container {container['name']}"
            non_root = container.get("securityContext", {}).get("runAsNonRoot",
                                                                pod.get("securityContext", {}).get("runAsNonRoot"))
            if non_root is not True:
                problems.append(f"{cwhere}: runAsNonRoot is not true")
            if "readinessProbe" not in container:
                problems.append(f"{cwhere}: no readinessProbe")
            env = container_env(container)
            if _is_ours(container):
                for var in env:
                    if var not in code_env | THIRD_PARTY_ENV:
                        problems.append(f"{cwhere}: variable {var} is read by no code")
            if _is_inference(container):
                for kind in ("readinessProbe", "livenessProbe", "startupProbe"):
                    check_probe(cwhere, container.get(kind), kind, container, "/healthz")
                resources = container.get("resources", {})
                if _quantity(resources.get("limits", {}).get(GPU, 0)) < 1:
                    problems.append(f"{cwhere}: no {GPU} limit")
                if GPU in resources.get("requests", {}) and \
                        resources["requests"][GPU] != resources.get("limits", {}).get(GPU):
                    problems.append(f"{cwhere}: {GPU} request and limit differ")
                port = str(env.get("INFERENCE_PORT", "8090"))
                if int(port) not in {p["containerPort"] for p in container.get("ports", [])}:
                    problems.append(f"{cwhere}: INFERENCE_PORT {port} is not a container port")
                if env.get("INFERENCE_HOST") not in ("0.0.0.0", "::"):
                    problems.append(f"{cwhere}: INFERENCE_HOST must be 0.0.0.0 in a pod")
            if _is_bot(container):
                bot_env = env
                # The webhook server's health route (bot/webhook.py HEALTH_PATH); liveness may
                # stay on TCP (a database outage must not restart every replica).
                for kind in ("readinessProbe", "startupProbe"):
                    check_probe(cwhere, container.get(kind), kind, container, BOT_HEALTH_PATH)
                check_probe(cwhere, container.get("livenessProbe"), "livenessProbe", container, None)
                if workload["spec"].get("replicas", 1) > 1:
                    if "WEBHOOK_URL" not in env:
                        problems.append(f"{cwhere}: several replicas need webhook mode (WEBHOOK_URL); "
                                        "polling would deliver each update to one replica at random")
                    if not (isinstance(env.get("WEBHOOK_SECRET"), tuple) and env["WEBHOOK_SECRET"][0] == "secret"):
                        problems.append(f"{cwhere}: several replicas need one WEBHOOK_SECRET from a Secret "
                                        "(unset, each replica sets its own random one)")
                    if env.get("WEBHOOK_LISTEN") not in ("0.0.0.0", "::"):
                        problems.append(f"{cwhere}: WEBHOOK_LISTEN must be 0.0.0.0 in a pod")
                    webhook_port = int(env.get("WEBHOOK_PORT", 8443))
                    if webhook_port not in {p["containerPort"] for p in container.get("ports", [])}:
                        problems.append(f"{cwhere}: WEBHOOK_PORT {webhook_port} is not a container port")

    def selected(selector: dict) -> list[dict]:
        return [w for w in workloads.values() if _matches(selector, _pod_labels(w))]

    for name, svc in services.items():
        targets = selected(svc["spec"].get("selector", {}))
        if not targets:
            problems.append(f"Service/{name}: selector matches no pod template")
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for w in targets:
                names = port_names(w)
                if target not in names and target not in names.values():
                    problems.append(f"Service/{name}: targetPort {target} is no port of {w['metadata']['name']}")

    def service_port(name: str, port: dict) -> bool:
        svc = services.get(name)
        if svc is None:
            return False
        wanted = port.get("name", port.get("number"))
        return any(wanted in (p.get("name"), p["port"]) for p in svc["spec"]["ports"])

    webhook_url = bot_env.get("WEBHOOK_URL") if isinstance(bot_env.get("WEBHOOK_URL"), str) else None
    for name, ingress in by_kind.get("Ingress", {}).items():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                if not service_port(backend["name"], backend["port"]):
                    problems.append(f"Ingress/{name}: backend {backend['name']}:{backend['port']} does not exist")
                if webhook_url and path["path"] != (urlsplit(webhook_url).path or "/"):
                    problems.append(f"Ingress/{name}: path {path['path']} is not WEBHOOK_URL's path")
            if webhook_url and rule.get("host") != urlsplit(webhook_url).hostname:
                problems.append(f"Ingress/{name}: host {rule.get('host')} is not WEBHOOK_URL's host")
        if webhook_url and urlsplit(webhook_url).scheme != "https":
            problems.append("WEBHOOK_URL must be https (Telegram requires TLS)")
        tls_hosts = {h for t in ingress["spec"].get("tls", []) for h in t.get("hosts", [])}
        if webhook_url and urlsplit(webhook_url).hostname not in tls_hosts:
            problems.append(f"Ingress/{name}: no TLS for WEBHOOK_URL's host")

    inference_url = bot_env.get("INFERENCE_URL")
    if isinstance(inference_url, str):
        parts = urlsplit(inference_url)
        host = parts.hostname.split(".")[0]
        if not service_port(host, {"number": parts.port or 80}):
            problems.append(f"INFERENCE_URL {inference_url} is no Service port")

    for name, hpa in by_kind.get("HorizontalPodAutoscaler", {}).items():
        ref = hpa["spec"]["scaleTargetRef"]
        target = by_kind.get(ref["kind"], {}).get(ref["name"])
        if target is None:
            problems.append(f"HorizontalPodAutoscaler/{name}: target {ref['kind']}/{ref['name']} does not exist")
        elif "replicas" in target["spec"]:
            problems.append(f"HorizontalPodAutoscaler/{name}: {ref['name']} sets replicas, which the HPA owns")
        if hpa["spec"].get("minReplicas", 1) > hpa["spec"]["maxReplicas"]:
            problems.append(f"HorizontalPodAutoscaler/{name}: minReplicas > maxReplicas")
        if not hpa["spec"].get("metrics"):
            problems.append(f"HorizontalPodAutoscaler/{name}: no metrics")
        for metric in hpa["spec"].get("metrics", []):
            if metric["type"] == "Pods":
                metric_name = metric["pods"]["metric"]["name"]
                if metric_name not in metrics | adapter_metrics:
                    problems.append(f"HorizontalPodAutoscaler/{name}: metric {metric_name} is neither "
                                    "exported by the service nor made by an adapter rule")

    for name, pdb in by_kind.get("PodDisruptionBudget", {}).items():
        if not selected(pdb["spec"]["selector"]["matchLabels"]):
            problems.append(f"PodDisruptionBudget/{name}: selector matches no pod template")

    for name, policy in by_kind.get("NetworkPolicy", {}).items():
        targets = selected(policy["spec"]["podSelector"]["matchLabels"])
        if not targets:
            problems.append(f"NetworkPolicy/{name}: podSelector matches no pod template")
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                if "podSelector" in peer and not selected(peer["podSelector"]["matchLabels"]):
                    problems.append(f"NetworkPolicy/{name}: a from podSelector matches no pod template")
            for port in rule.get("ports", []):
                if isinstance(port.get("port"), str) and not all(port["port"] in port_names(w) for w in targets):
                    problems.append(f"NetworkPolicy/{name}: port {port['port']} is not a named port of its pods")

    for name, monitor in by_kind.get("ServiceMonitor", {}).items():
        matched = [s for s in services.values()
                   if _matches(monitor["spec"]["selector"]["matchLabels"], s["metadata"].get("labels", {}))]
        if not matched:
            problems.append(f"ServiceMonitor/{name}: selector matches no Service's labels")
        for endpoint in monitor["spec"]["endpoints"]:
            if not all(any(p.get("name") == endpoint["port"] for p in s["spec"]["ports"]) for s in matched):
                problems.append(f"ServiceMonitor/{name}: port {endpoint['port']} is not a Service port name")
            if endpoint.get("path", "/metrics") not in service_routes():
                problems.append(f"ServiceMonitor/{name}: path {endpoint.get('path')} is no route of the service")
    return problems


# ---------------------------------------------------------------------------------------------
# Kubernetes: tests
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def metrics() -> set[str]:
    return exported_metrics()


@pytest.fixture(scope="module")
def adapter_metrics() -> set[str]:
    return {rule["name"]["as"] for rule in adapter_rules()}


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_k8s_manifests_match_the_kubernetes_schemas(version: str, no_network: None) -> None:
    docs = k8s_docs()
    kinds = {d["kind"] for d in docs}
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "Service", "Ingress",
            "HorizontalPodAutoscaler", "PodDisruptionBudget", "StatefulSet"} <= kinds
    problems = [p for d in docs for p in k8s_schema_errors(d, version)]
    assert problems == []


def test_k8s_manifests_are_consistent(code_env: set[str], metrics: set[str], adapter_metrics: set[str]) -> None:
    assert k8s_problems(k8s_docs(), code_env, metrics, adapter_metrics) == []


def test_k8s_bot_runs_three_webhook_replicas() -> None:
    bot = next(d for d in k8s_docs() if d["kind"] == "Deployment" and d["metadata"]["name"] == "selfcheck-bot")
    assert bot["spec"]["replicas"] == 3


def test_prometheus_adapter_rules_read_real_metrics(metrics: set[str]) -> None:
    assert {"inference_queue_waiting", "inference_requests_total"} <= metrics
    assert adapter_problems(adapter_rules(), metrics, service_routes()) == []
    broken = copy.deepcopy(adapter_rules())
    broken[1]["seriesQuery"] = broken[1]["seriesQuery"].replace("inference_requests_total", "inference_request_total")
    broken[1]["metricsQuery"] = broken[1]["metricsQuery"].replace("/v1/analyze", "/analyze")
    found = adapter_problems(broken, metrics, service_routes())
    assert any("inference_request_total" in p for p in found)
    assert any("/analyze" in p for p in found)


def _doc(docs: list[dict], kind: str, name: str) -> dict:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def _container(docs: list[dict], name: str) -> dict:
    return _pod_spec(_doc(docs, "Deployment", name))["containers"][0]


def _break_replicas(docs: list[dict]) -> None:
    _doc(docs, "Deployment", "selfcheck-bot")["spec"]["replicas"] = "three"


def _break_field_name(docs: list[dict]) -> None:
    c = _container(docs, "selfcheck-inference")
    c["readinesProbe"] = c.pop("readinessProbe")


def _break_api_version(docs: list[dict]) -> None:
    _doc(docs, "HorizontalPodAutoscaler", "selfcheck-inference")["apiVersion"] = "autoscaling/v3"


def _break_port_type(docs: list[dict]) -> None:
    _container(docs, "selfcheck-inference")["ports"][0]["containerPort"] = "http"


SCHEMA_BREAKS: dict[str, tuple[Callable[[list[dict]], None], str]] = {
    "replicas not a number": (_break_replicas, "not of type 'integer'"),
    "misspelt field": (_break_field_name, "readinesProbe"),
    "unknown apiVersion": (_break_api_version, "Couldn't find schema"),
    "port not a number": (_break_port_type, "not of type 'integer'"),
}


@pytest.mark.parametrize("case", sorted(SCHEMA_BREAKS))
def test_k8s_schema_check_rejects_a_broken_manifest(case: str, no_network: None) -> None:
    docs = k8s_docs()
    breaker, expected = SCHEMA_BREAKS[case]
    breaker(docs)
    problems = [p for d in docs for p in k8s_schema_errors(d, K8S_VERSIONS[0])]
    assert any(expected in p for p in problems), problems


def _set_env(docs: list[dict], configmap: str, key: str, value: str) -> None:
    _doc(docs, "ConfigMap", configmap)["data"][key] = value


def _probe_path(docs: list[dict]) -> None:
    _container(docs, "selfcheck-inference")["readinessProbe"]["httpGet"]["path"] = "/health"


def _bot_probe_tcp(docs: list[dict]) -> None:
    _container(docs, "selfcheck-bot")["readinessProbe"] = {"tcpSocket": {"port": "webhook"}}


def _no_gpu(docs: list[dict]) -> None:
    del _container(docs, "selfcheck-inference")["resources"]["limits"][GPU]


def _hpa_target(docs: list[dict]) -> None:
    _doc(docs, "HorizontalPodAutoscaler", "selfcheck-inference")["spec"]["scaleTargetRef"]["name"] = "inference"


def _hpa_metric(docs: list[dict]) -> None:
    hpa = _doc(docs, "HorizontalPodAutoscaler", "selfcheck-inference")
    hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] = "inference_in_flight"


def _service_selector(docs: list[dict]) -> None:
    _doc(docs, "Service", "selfcheck-inference")["spec"]["selector"] = {"app": "inference"}


def _unknown_variable(docs: list[dict]) -> None:
    _set_env(docs, "selfcheck-bot", "INFERENCE_ENDPOINT", "http://selfcheck-inference:8090")


def _random_webhook_secret(docs: list[dict]) -> None:
    c = _container(docs, "selfcheck-bot")
    c["env"] = [e for e in c["env"] if e["name"] != "WEBHOOK_SECRET"]


def _missing_secret_key(docs: list[dict]) -> None:
    _doc(docs, "Secret", "selfcheck-telegram")["stringData"].pop("WEBHOOK_SECRET")


def _ingress_path(docs: list[dict]) -> None:
    _set_env(docs, "selfcheck-bot", "WEBHOOK_URL", "https://bot.example.com/hook")


def _service_links(docs: list[dict]) -> None:
    _pod_spec(_doc(docs, "Deployment", "selfcheck-inference"))["enableServiceLinks"] = True


def _hpa_replicas(docs: list[dict]) -> None:
    _doc(docs, "Deployment", "selfcheck-inference")["spec"]["replicas"] = 2


def _root(docs: list[dict]) -> None:
    _pod_spec(_doc(docs, "Deployment", "selfcheck-bot"))["securityContext"]["runAsNonRoot"] = False


def _inference_url(docs: list[dict]) -> None:
    _set_env(docs, "selfcheck-bot", "INFERENCE_URL", "http://inference:8090")


SEMANTIC_BREAKS: dict[str, tuple[Callable[[list[dict]], None], str]] = {
    "readiness not on /healthz": (_probe_path, "readinessProbe is not an HTTP GET of /healthz"),
    "bot readiness on TCP only": (_bot_probe_tcp, "container bot: readinessProbe is not an HTTP GET of /healthz"),
    "no GPU": (_no_gpu, "no nvidia.com/gpu limit"),
    "HPA targets nothing": (_hpa_target, "target Deployment/inference does not exist"),
    "HPA metric not exported": (_hpa_metric, "metric inference_in_flight"),
    "Service selects no pod": (_service_selector, "Service/selfcheck-inference: selector matches no pod"),
    "variable no code reads": (_unknown_variable, "INFERENCE_ENDPOINT is read by no code"),
    "webhook secret random per replica": (_random_webhook_secret, "one WEBHOOK_SECRET from a Secret"),
    "Secret key missing": (_missing_secret_key, "selfcheck-telegram/WEBHOOK_SECRET, which does not exist"),
    "Ingress path is not WEBHOOK_URL's": (_ingress_path, "is not WEBHOOK_URL's path"),
    "service links on": (_service_links, "enableServiceLinks"),
    "Deployment fights the HPA": (_hpa_replicas, "sets replicas, which the HPA owns"),
    "runs as root": (_root, "runAsNonRoot is not true"),
    "INFERENCE_URL names no Service": (_inference_url, "is no Service port"),
}


@pytest.mark.parametrize("case", sorted(SEMANTIC_BREAKS))
def test_k8s_semantic_check_rejects_a_broken_manifest(case: str, code_env: set[str], metrics: set[str],
                                                      adapter_metrics: set[str]) -> None:
    docs = k8s_docs()
    breaker, expected = SEMANTIC_BREAKS[case]
    breaker(docs)
    problems = k8s_problems(docs, code_env, metrics, adapter_metrics)
    assert any(expected in p for p in problems), problems


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    on_disk = {f.name for f in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == on_disk
    images = {c["image"].rsplit(":", 1)[0] for d in k8s_docs() if d["kind"] == "Deployment"
              for c in _pod_spec(d)["containers"]}
    assert {i["name"] for i in kustomization["images"]} <= images


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_build_renders_valid_manifests(code_env: set[str], metrics: set[str],
                                                 adapter_metrics: set[str]) -> None:
    """``kubectl kustomize`` (offline, no cluster) renders what ``kubectl apply -k`` sends."""
    out = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rendered = [d for d in yaml.safe_load_all(out.stdout) if d]
    assert not [d for d in rendered if d["kind"] == "Secret"], "a Secret would be applied from the repository"
    for version in K8S_VERSIONS:
        assert [p for d in rendered for p in k8s_schema_errors(d, version)] == []
    secrets = load_yaml_docs(K8S / "secret.example.yaml")
    assert k8s_problems(rendered + secrets, code_env, metrics, adapter_metrics) == []


def test_secret_template_holds_no_real_secret() -> None:
    for doc in load_yaml_docs(K8S / "secret.example.yaml"):
        assert "data" not in doc
        for key, value in doc["stringData"].items():
            assert "CHANGE-ME" in value, f"{doc['metadata']['name']}/{key} is not a placeholder"


# ---------------------------------------------------------------------------------------------
# Compose
# ---------------------------------------------------------------------------------------------


def compose_schema() -> dict:
    vendor = importlib.resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((vendor / "compose-spec.json").read_text(encoding="utf-8"))


def compose_schema_errors(doc: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(compose_schema(),
                                                format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def env_file_keys(path: Path) -> set[str]:
    keys = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, _ = line.partition("=")
            assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
            keys.add(key.strip())
    return keys


_INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def compose_problems(doc: dict, text: str, env_example: set[str], code_env: set[str]) -> list[str]:
    problems = []
    services = doc.get("services", {})
    volumes = doc.get("volumes") or {}
    for needed in ("bot", "inference", "postgres"):
        if needed not in services:
            problems.append(f"no service {needed}")
    inference, bot = services.get("inference", {}), services.get("bot", {})

    devices = inference.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    if not any("gpu" in d.get("capabilities", []) for d in devices):
        problems.append("inference: no GPU reserved (deploy.resources.reservations.devices)")
    port = str(inference.get("environment", {}).get("INFERENCE_PORT", "8090"))
    test = " ".join(inference.get("healthcheck", {}).get("test", []))
    if f":{port}/healthz" not in test:
        problems.append(f"inference: healthcheck is not GET /healthz on port {port}")
    if inference.get("environment", {}).get("INFERENCE_HOST") != "0.0.0.0":
        problems.append("inference: INFERENCE_HOST must be 0.0.0.0 in a container")

    if bot.get("depends_on", {}).get("inference", {}).get("condition") != "service_healthy":
        problems.append("bot: does not wait for a healthy inference service")
    db_dir = str(Path(bot.get("environment", {}).get("BOT_DB_PATH", "data/bot.sqlite3")).parent)
    mounts = [m.split(":") for m in bot.get("volumes", []) if isinstance(m, str)]
    if not any(src in volumes and dst == db_dir for src, dst, *_ in mounts):
        problems.append(f"bot: no named volume at {db_dir}, the folder of BOT_DB_PATH")
    url = str(bot.get("environment", {}).get("INFERENCE_URL", ""))
    default = url.split(":-", 1)[1].rstrip("}") if ":-" in url else url
    if urlsplit(default).hostname not in services:
        problems.append(f"bot: INFERENCE_URL default {default} is no compose service")

    for name in ("bot", "inference"):
        service = services.get(name, {})
        for var in service.get("environment", {}):
            if var not in code_env | THIRD_PARTY_ENV:
                problems.append(f"{name}: variable {var} is read by no code")
        dockerfile = service.get("build", {}).get("dockerfile")
        if not dockerfile or not (COMPOSE.parent / service["build"].get("context", ".") / dockerfile).is_file():
            problems.append(f"{name}: build.dockerfile {dockerfile} does not exist")
        if service.get("read_only") is not True:
            problems.append(f"{name}: root file system not read-only")
    if "TELEGRAM_BOT_TOKEN" in inference.get("environment", {}):
        problems.append("inference: gets the Telegram token")
    if services.get("postgres", {}).get("profiles") != ["postgres"]:
        problems.append("postgres: not in its own profile 'postgres'")

    used = {m for line in text.splitlines() if not line.lstrip().startswith("#")
            for m in _INTERPOLATION.findall(line)}
    for var in sorted(used - env_example):
        problems.append(f"${{{var}}} is used but not in .env.example")
    for var in sorted(env_example - code_env - COMPOSE_ONLY_ENV):
        problems.append(f".env.example: {var} is read by no code")
    return problems


def _compose() -> tuple[dict, str]:
    text = COMPOSE.read_text(encoding="utf-8")
    return yaml.safe_load(text), text


def test_compose_file_matches_the_compose_spec_schema(no_network: None) -> None:
    doc, _ = _compose()
    assert compose_schema_errors(doc) == []


def test_compose_file_is_consistent(code_env: set[str]) -> None:
    doc, text = _compose()
    assert compose_problems(doc, text, env_file_keys(DEPLOY / ".env.example"), code_env) == []


def _devices(doc: dict) -> list:
    return doc["services"]["inference"]["deploy"]["resources"]["reservations"]["devices"]


COMPOSE_SCHEMA_BREAKS: dict[str, tuple[Callable[[dict], None], str]] = {
    "capabilities not a list": (lambda d: _devices(d)[0].update(capabilities="gpu"), "not of type 'array'"),
    "misspelt key": (lambda d: d["services"]["bot"].update(healthchek={}), "healthchek"),
    "misspelt top level": (lambda d: d.update(servces=d.pop("services")), "servces"),
    "bad restart policy": (lambda d: d["services"]["bot"].update(restart=1), "not of type 'string'"),
}


@pytest.mark.parametrize("case", sorted(COMPOSE_SCHEMA_BREAKS))
def test_compose_schema_check_rejects_a_broken_file(case: str, no_network: None) -> None:
    doc, _ = _compose()
    breaker, expected = COMPOSE_SCHEMA_BREAKS[case]
    breaker(doc)
    problems = compose_schema_errors(doc)
    assert any(expected in p for p in problems), problems


COMPOSE_SEMANTIC_BREAKS: dict[str, tuple[Callable[[dict], None], str]] = {
    "no GPU": (lambda d: d["services"]["inference"].pop("deploy"), "no GPU reserved"),
    "healthcheck path": (lambda d: d["services"]["inference"]["healthcheck"].update(
        test=["CMD", "python", "-c", "urlopen('http://127.0.0.1:8090/health')"]), "healthcheck"),
    "DB not on a volume": (lambda d: d["services"]["bot"].update(volumes=[]), "no named volume"),
    "unknown variable": (lambda d: d["services"]["bot"]["environment"].update(BOT_DB_URL="x"),
                         "BOT_DB_URL is read by no code"),
    "token in inference": (lambda d: d["services"]["inference"]["environment"].update(TELEGRAM_BOT_TOKEN="x"),
                           "gets the Telegram token"),
    "bot does not wait": (lambda d: d["services"]["bot"].pop("depends_on"), "does not wait"),
}


@pytest.mark.parametrize("case", sorted(COMPOSE_SEMANTIC_BREAKS))
def test_compose_semantic_check_rejects_a_broken_file(case: str, code_env: set[str]) -> None:
    doc, text = _compose()
    breaker, expected = COMPOSE_SEMANTIC_BREAKS[case]
    breaker(doc)
    problems = compose_problems(doc, text, env_file_keys(DEPLOY / ".env.example"), code_env)
    assert any(expected in p for p in problems), problems


def test_compose_interpolations_are_documented_in_the_env_example(code_env: set[str]) -> None:
    doc, text = _compose()
    problems = compose_problems(doc, text + "\n  x: ${INFERENCE_TOKEN}\n",
                                env_file_keys(DEPLOY / ".env.example") | {"BOT_SECRET"}, code_env)
    assert "${INFERENCE_TOKEN} is used but not in .env.example" in problems
    assert ".env.example: BOT_SECRET is read by no code" in problems


def _docker_compose_works() -> bool:
    if shutil.which("docker") is None:
        return False
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _docker_compose_works(), reason="no docker compose plugin here (the schema test covers it)")
def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    env = tmp_path / "env"
    env.write_text("TELEGRAM_BOT_TOKEN=1:x\n", encoding="utf-8")
    out = subprocess.run(["docker", "compose", "--env-file", str(env), "-f", str(COMPOSE), "config", "-q"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------------------------------------
# systemd
# ---------------------------------------------------------------------------------------------

UNIT_VENV_PYTHON = "/opt/selfcheck/.venv/bin/python"


def parse_unit(text: str) -> dict[str, list[tuple[str, str]]]:
    """systemd's ini dialect: repeated keys allowed, '#' and ';' comments, '\\' continuations."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    lines = iter(text.splitlines())
    for raw in lines:
        line = raw.strip()
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines, "").strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections.setdefault(current, [])
            continue
        key, sep, value = line.partition("=")
        if current is None or not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key.strip()):
            raise ValueError(f"not a unit file line: {raw!r}")
        sections[current].append((key.strip(), value.strip()))
    return sections


def _values(unit: dict, section: str, key: str) -> list[str]:
    return [v for k, v in unit.get(section, []) if k == key]


def unit_problems(name: str, text: str, code_env: set[str], config_exit: int) -> list[str]:
    try:
        unit = parse_unit(text)
    except ValueError as e:
        return [f"{name}: {e}"]
    problems = []
    for section in ("Unit", "Service", "Install"):
        if section not in unit:
            problems.append(f"{name}: no [{section}]")
    exec_start = _values(unit, "Service", "ExecStart")
    module = "bot" if "bot" in name else "inference serve"
    if exec_start != [f"{UNIT_VENV_PYTHON} -m {module}"]:
        problems.append(f"{name}: ExecStart is not '{UNIT_VENV_PYTHON} -m {module}'")
    if _values(unit, "Service", "User") in ([], ["root"]):
        problems.append(f"{name}: runs as root")
    for assignment in " ".join(_values(unit, "Service", "Environment")).split():
        var = assignment.partition("=")[0]
        if var not in code_env | THIRD_PARTY_ENV:
            problems.append(f"{name}: Environment {var} is read by no code")
    env_files = _values(unit, "Service", "EnvironmentFile")
    example = SYSTEMD / (Path(env_files[0].lstrip("-")).name + ".example") if env_files else None
    if example is None or not example.is_file():
        problems.append(f"{name}: EnvironmentFile has no example beside the unit")
    if "inference" in name and "yes" in _values(unit, "Service", "PrivateDevices"):
        problems.append(f"{name}: PrivateDevices=yes hides the GPU")
    if "bot" in name and str(config_exit) not in " ".join(_values(unit, "Service", "RestartPreventExitStatus")):
        problems.append(f"{name}: restarts on exit status {config_exit}, the bot's configuration error")
    return problems


def unit_files() -> list[Path]:
    files = sorted(SYSTEMD.glob("*.service"))
    assert {f.name for f in files} == {"selfcheck-bot.service", "selfcheck-inference.service"}
    return files


@pytest.fixture(scope="module")
def config_exit() -> int:
    from bot.__main__ import EXIT_CONFIG_ERROR

    return EXIT_CONFIG_ERROR


def test_systemd_units_are_consistent(code_env: set[str], config_exit: int) -> None:
    for unit in unit_files():
        assert unit_problems(unit.name, unit.read_text(encoding="utf-8"), code_env, config_exit) == []
    for example in SYSTEMD.glob("*.env.example"):
        assert env_file_keys(example) - code_env == set(), example.name


@pytest.mark.parametrize("change, expected", [
    (lambda t: t.replace("-m bot", "-m bot.app"), "ExecStart"),
    (lambda t: t.replace("User=selfcheck", "User=root"), "runs as root"),
    (lambda t: t.replace("RestartPreventExitStatus=2", ""), "exit status 2"),
    (lambda t: t.replace("Environment=BOT_DB_PATH", "Environment=BOT_DATABASE"), "BOT_DATABASE is read by no code"),
    (lambda t: t.replace("[Install]", "[Install"), "not a unit file line"),
])
def test_systemd_unit_check_rejects_a_broken_unit(change: Callable[[str], str], expected: str,
                                                  code_env: set[str], config_exit: int) -> None:
    text = change((SYSTEMD / "selfcheck-bot.service").read_text(encoding="utf-8"))
    problems = unit_problems("selfcheck-bot.service", text, code_env, config_exit)
    assert any(expected in p for p in problems), problems


def test_systemd_inference_unit_keeps_the_gpu_visible(code_env: set[str], config_exit: int) -> None:
    text = (SYSTEMD / "selfcheck-inference.service").read_text(encoding="utf-8") + "\n"
    text = text.replace("NoNewPrivileges=yes", "NoNewPrivileges=yes\nPrivateDevices=yes")
    assert any("hides the GPU" in p for p in unit_problems("selfcheck-inference.service", text, code_env, config_exit))


def systemd_verify(units: Iterable[tuple[str, str]], tmp_path: Path) -> tuple[int, str]:
    """``systemd-analyze verify`` on copies whose interpreter is this one (verify checks that the
    ExecStart program exists); every line it prints counts as a problem (unknown keys are only
    warnings to systemd)."""
    paths = []
    for name, text in units:
        path = tmp_path / name
        path.write_text(text.replace(UNIT_VENV_PYTHON, sys.executable), encoding="utf-8")
        paths.append(str(path))
    out = subprocess.run(["systemd-analyze", "verify", "--man=no", *paths],
                         capture_output=True, text=True, timeout=120)
    return out.returncode, (out.stdout + out.stderr).strip()


needs_systemd_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                           reason="systemd-analyze is not installed (the parser check runs)")


@needs_systemd_analyze
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    rc, output = systemd_verify(((u.name, u.read_text(encoding="utf-8")) for u in unit_files()), tmp_path)
    assert (rc, output) == (0, "")


@needs_systemd_analyze
@pytest.mark.parametrize("change, expected", [
    (lambda t: t.replace("RestartSec=5", "RestartSecs=5"), "Unknown key"),
    (lambda t: re.sub(r"^ExecStart=.*$", "", t, flags=re.M), "no ExecStart"),
])
def test_systemd_analyze_rejects_a_broken_unit(change: Callable[[str], str], expected: str, tmp_path: Path) -> None:
    text = change((SYSTEMD / "selfcheck-bot.service").read_text(encoding="utf-8"))
    rc, output = systemd_verify([("selfcheck-bot.service", text)], tmp_path)
    assert expected in output, output


# ---------------------------------------------------------------------------------------------
# Dockerfiles and the images' packages (uv.lock)
# ---------------------------------------------------------------------------------------------

LOCK = ROOT / "uv.lock"
#: What no image may install: the bot's no model stack, the service's no Telegram, database or
#: template package of the bot (Jinja2 is torch's own dependency in the GPU image, so only the
#: CPU service extra is held to it below).
MODEL_STACK = frozenset({
    "torch", "torchvision", "triton", "ultralytics", "segmentation-models-pytorch", "timm",
    "onnx", "onnxruntime", "opencv-python", "opencv-python-headless",
})
BOT_ONLY = frozenset({"python-telegram-bot", "aiosqlite", "asyncpg"})
#: Per extra of pyproject.toml: what its resolution in uv.lock must leave out (nvidia-* too,
#: where torch is left out), and a package it must hold (so that the check is not vacuous).
EXTRA_EXCLUDES: dict[str, tuple[frozenset[str], str]] = {
    "bot": (MODEL_STACK | {"prometheus-client"}, "python-telegram-bot"),
    "service": (frozenset({"torch", "torchvision", "triton", "ultralytics", "segmentation-models-pytorch",
                           "timm", "opencv-python", "jinja2"}) | BOT_ONLY, "onnxruntime"),
}


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    instructions, buffer = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue
        buffer += " " + stripped.rstrip("\\").strip()
        if not stripped.endswith("\\"):
            word, _, rest = buffer.strip().partition(" ")
            instructions.append((word.upper(), rest.strip()))
            buffer = ""
    return instructions


def ignore_allows(patterns: list[str], path: str) -> bool:
    """Docker's .dockerignore: the last matching pattern wins; '!' re-includes."""
    allowed = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        hit = any(fnmatch.fnmatch(p, pat) for p in prefixes)
        if pat.startswith("**/"):
            hit = hit or any(fnmatch.fnmatch(part, pat[3:]) for part in parts)
        if hit:
            allowed = negate
    return allowed


def lock_versions() -> dict[str, str]:
    """Every package uv.lock pins (name -> version), the project itself left out."""
    with open(LOCK, "rb") as f:
        packages = tomllib.load(f)["package"]
    return {canonicalize_name(p["name"]): p["version"] for p in packages if "version" in p
            and p.get("source", {}).get("editable") != "." and p.get("source", {}).get("virtual") != "."}


def image_environment(python: str = "3.11") -> dict[str, str]:
    """The markers of an image: the base image's CPython on Linux, x86-64."""
    env = dict(default_environment())
    env.update(python_version=python, python_full_version=f"{python}.0", sys_platform="linux",
               platform_system="Linux", os_name="posix", platform_machine="x86_64",
               implementation_name="cpython", platform_python_implementation="CPython")
    return env


def uv_executable() -> str:
    """The uv that exports the lock: the one beside this Python (the dev extra pins it), else PATH's."""
    beside = Path(sys.executable).with_name("uv")
    found = str(beside) if beside.is_file() else shutil.which("uv")
    if found is None:
        pytest.fail("no uv: install the dev extra (it pins the uv the images and scripts/setup.sh use)")
    return found


def _uv_env(**extra: str) -> dict[str, str]:
    """This environment without the caller's UV_* settings (an index mirror, say), so that uv
    reads the lock as the images and scripts/setup.sh do."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("UV_")}, **extra}


@functools.cache
def lock_export(*flags: str, hashes: bool = False) -> str:
    """``uv export --frozen --no-emit-project`` of uv.lock with ``flags`` (``--extra bot``...):
    the requirements file pip gets, offline."""
    command = [uv_executable(), "export", "--frozen", "--offline", "--no-config", "--no-emit-project",
               "--no-header", "--no-annotate", "--format", "requirements-txt", *flags]
    if not hashes:
        command.append("--no-hashes")
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120, env=_uv_env())
    assert out.returncode == 0, out.stderr
    return out.stdout


def parse_export(text: str, python: str = "3.11") -> dict[str, tuple[Requirement, list[str]]]:
    """name -> (requirement, its hashes) for the lines whose markers hold in the image."""
    found: dict[str, tuple[Requirement, list[str]]] = {}
    for line in text.replace("\\\n", " ").splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        spec, *hashes = re.split(r"\s+--hash=", line.strip())
        req = Requirement(spec)
        if req.marker is None or req.marker.evaluate(image_environment(python)):
            found[canonicalize_name(req.name)] = (req, hashes)
    return found


def extra_requirements(*extras: str) -> dict[str, Requirement]:
    flags = [f for e in extras for f in ("--extra", e)]
    return {name: req for name, (req, _) in parse_export(lock_export(*flags)).items()}


_UV_EXPORT = re.compile(r"\buv\s+export\b([^&;|]*)")
_PIP_INSTALL = re.compile(r"\bpip\s+install\b([^&;|]*)")


def image_extras(path: Path) -> tuple[str, ...]:
    """The extras a Dockerfile's ``uv export`` names."""
    runs = " ".join(rest for word, rest in dockerfile_instructions(path) if word == "RUN")
    return tuple(e for m in _UV_EXPORT.finditer(runs) for e in re.findall(r"--extra[=\s]+(\S+)", m.group(1)))


def image_python(path: Path) -> str | None:
    args = dict(rest.partition("=")[::2] for word, rest in dockerfile_instructions(path) if word == "ARG")
    match = re.match(r"python:(\d+\.\d+)", args.get("PYTHON_IMAGE", ""))
    return match.group(1) if match else None


def lock_install_problems(path: Path, instructions: list[tuple[str, str]]) -> list[str]:
    """The image installs its packages from uv.lock, with hashes, and nothing beside it."""
    name = path.name
    problems = []
    runs = [rest for word, rest in instructions if word == "RUN"]
    copies = [rest.split()[:-1] for word, rest in instructions if word == "COPY" and "--from=" not in rest]
    if not any("uv.lock" in sources for sources in copies):
        problems.append(f"{name}: does not copy uv.lock")
    exports = [m.group(1).split() for run in runs for m in _UV_EXPORT.finditer(run)]
    if len(exports) != 1:
        problems.append(f"{name}: {len(exports)} `uv export` of uv.lock (one, for the image's extras)")
    for flags in exports:
        if not {"--frozen", "--locked"} & set(flags):
            problems.append(f"{name}: uv export without --frozen (it would resolve again, not read the lock)")
        if "--no-emit-project" not in flags:
            problems.append(f"{name}: uv export without --no-emit-project (the project's code is copied)")
        if "--no-hashes" in flags:
            problems.append(f"{name}: uv export --no-hashes (pip checks every file against the lock's hashes)")
        if "--all-extras" in flags or "--extra" not in " ".join(flags):
            problems.append(f"{name}: uv export must name the image's extras (--extra ...)")
    uv_pin = f"uv=={lock_versions().get('uv')}"
    for run in runs:
        for m in _PIP_INSTALL.finditer(run):
            args = m.group(1).split()
            if "-r" in args or "--requirement" in args:
                if "--require-hashes" not in args:
                    problems.append(f"{name}: pip install -r without --require-hashes")
                continue
            for package in (a for a in args if not a.startswith("-")):
                if package != uv_pin:
                    problems.append(f"{name}: pip install {package}: not from uv.lock (only {uv_pin}, "
                                    "the uv of the lock, is installed by name)")
    python = image_python(path)
    with open(ROOT / "pyproject.toml", "rb") as f:
        environments = tomllib.load(f)["tool"]["uv"]["environments"]
    if python is None or not any(Marker(e).evaluate(image_environment(python)) for e in environments):
        problems.append(f"{name}: base image Python {python} is outside uv.lock's environments {environments}")
    return problems


def dockerfile_problems(path: Path, code_env: set[str]) -> list[str]:
    problems = []
    instructions = dockerfile_instructions(path)
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    final = instructions[last_from:]
    users = [rest for word, rest in final if word == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append(f"{path.name}: the final stage does not switch to a non-root USER")
    ignore_file = path.with_name(path.name + ".dockerignore")
    patterns = [line.strip() for line in ignore_file.read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.startswith("#")] if ignore_file.is_file() else []
    if not patterns:
        problems.append(f"{path.name}: no {ignore_file.name} (the whole repository would be sent)")
    for word, rest in instructions:
        if word in ("COPY", "ADD") and "--from=" not in rest:
            if word == "ADD" or re.search(r"https?://", rest):
                problems.append(f"{path.name}: ADD or a URL (nothing is fetched into the image by URL)")
            *sources, _ = rest.split()
            for source in sources:
                if not (ROOT / source).exists():
                    problems.append(f"{path.name}: COPY {source}: no such path in the repository")
                elif not ignore_allows(patterns, source.rstrip("/")):
                    problems.append(f"{path.name}: COPY {source}: excluded by {ignore_file.name}")
        if word == "ENV":
            for var in re.findall(r"(?:^|\s)([A-Z][A-Z0-9_]*)=", rest):
                if var not in code_env | THIRD_PARTY_ENV:
                    problems.append(f"{path.name}: ENV {var} is read by no code")
        if word == "RUN" and re.search(r"\b(curl|wget)\b", rest):
            problems.append(f"{path.name}: downloads with curl/wget")
    return problems + lock_install_problems(path, instructions)


def test_dockerfiles_are_consistent(code_env: set[str]) -> None:
    for name in ("bot.Dockerfile", "inference.Dockerfile"):
        assert dockerfile_problems(DOCKER / name, code_env) == []


def test_dockerfiles_run_the_right_entry_points() -> None:
    commands = {name: [rest for word, rest in dockerfile_instructions(DOCKER / name) if word == "CMD"][-1]
                for name in ("bot.Dockerfile", "inference.Dockerfile")}
    assert json.loads(commands["bot.Dockerfile"]) == ["python", "-m", "bot"]
    assert json.loads(commands["inference.Dockerfile"]) == ["python", "-m", "inference", "serve"]
    inference = dict(dockerfile_instructions(DOCKER / "inference.Dockerfile"))
    assert "/healthz" in inference["HEALTHCHECK"]
    text = (DOCKER / "inference.Dockerfile").read_text(encoding="utf-8")
    assert "YOLO_OFFLINE=1" in text
    assert "COPY weights/ /app/weights/" in text, "the models are baked into the image"


def test_dockerfiles_export_the_extras_of_their_side() -> None:
    assert image_extras(DOCKER / "bot.Dockerfile") == ("bot",)
    assert set(image_extras(DOCKER / "inference.Dockerfile")) == {"service", "gpu"}


def test_inference_image_installs_torch_from_the_lock() -> None:
    """No torch pin of its own: torch comes from uv.lock, the same version scripts/setup.sh
    installs (it exports the same lock, all extras)."""
    text = (DOCKER / "inference.Dockerfile").read_text(encoding="utf-8")
    assert not re.search(r"\btorch(vision)?\s*[=<>~!]=", text), "a torch pin beside the lock"
    locked = lock_versions()
    image = image_requirements("inference")
    every = {name: req for name, (req, _) in parse_export(lock_export("--all-extras")).items()}
    for package in ("torch", "torchvision"):
        assert str(image[package].specifier) == f"=={locked[package]}"
        assert every[package].specifier == image[package].specifier
    setup = (ROOT / "scripts/setup.sh").read_text(encoding="utf-8")
    assert "uv export" in setup and "--require-hashes" in setup and "torch==" not in setup
    assert re.search(r"UV_VERSION=(\S+)", setup).group(1) == locked["uv"], "the images and setup.sh use one uv"


_BOT_INSTALL = "RUN pip install --require-hashes --no-deps -r /src/req.txt"


@pytest.mark.parametrize("change, expected", [
    (lambda t: t.replace("USER 10001:10001", "USER root"), "non-root USER"),
    (lambda t: t.replace("COPY messages/", "COPY texts/"), "COPY texts/: no such path"),
    (lambda t: t.replace("COPY bot/ /app/bot/", "COPY bot/ /app/bot/\nCOPY tests/ /app/tests/"), "excluded by"),
    (lambda t: t.replace("MPLCONFIGDIR=", "BOT_CACHE=/tmp \\\n    MPLCONFIGDIR="), "BOT_CACHE is read by no code"),
    (lambda t: t.replace(_BOT_INSTALL, "RUN curl -fsSL https://example.invalid/x | sh && pip install -r x"), "curl"),
    (lambda t: t.replace(_BOT_INSTALL, "RUN pip install torch==2.14.1 && pip install --require-hashes -r x"),
     "pip install torch==2.14.1: not from uv.lock"),
    (lambda t: t.replace("pip install uv==", "pip install uv==0.1.0 uv-other=="), "uv==0.1.0: not from uv.lock"),
    (lambda t: t.replace("--require-hashes ", ""), "without --require-hashes"),
    (lambda t: t.replace("--frozen ", ""), "without --frozen"),
    (lambda t: t.replace("--no-emit-project", "--no-emit-project --no-hashes"), "--no-hashes"),
    (lambda t: t.replace("--extra bot", "--all-extras"), "must name the image's extras"),
    (lambda t: t.replace("COPY pyproject.toml uv.lock /src/", "COPY pyproject.toml /src/"), "does not copy uv.lock"),
    (lambda t: t.replace("python:3.11-slim", "python:3.12-slim"), "Python 3.12 is outside uv.lock's environments"),
])
def test_dockerfile_check_rejects_a_broken_dockerfile(change: Callable[[str], str], expected: str,
                                                      code_env: set[str], tmp_path: Path) -> None:
    original = (DOCKER / "bot.Dockerfile").read_text(encoding="utf-8")
    text = change(original)
    assert text != original, "the change no longer applies to bot.Dockerfile"
    broken = tmp_path / "bot.Dockerfile"
    broken.write_text(text, encoding="utf-8")
    shutil.copy(DOCKER / "bot.Dockerfile.dockerignore", tmp_path / "bot.Dockerfile.dockerignore")
    problems = dockerfile_problems(broken, code_env)
    assert any(expected in p for p in problems), problems


def image_requirements(image: str) -> dict[str, Requirement]:
    """What pip installs in that image's build: uv.lock exported for the extras its Dockerfile names."""
    extras = image_extras(DOCKER / f"{image}.Dockerfile")
    assert extras, f"{image}.Dockerfile exports no extra of uv.lock"
    return extra_requirements(*extras)


def excluded_packages(requirements: Iterable[str], excluded: frozenset[str]) -> set[str]:
    """The names of ``requirements`` in ``excluded``; where torch is excluded, its CUDA wheels too."""
    return {name for name in requirements
            if name in excluded or ("torch" in excluded and name.startswith(("nvidia-", "cuda-")))}


def test_image_requirements_come_from_the_lock() -> None:
    """Each image gets exactly the lock's versions, every file checked against its hashes, and
    not the other side's packages."""
    locked = lock_versions()
    for image in ("bot", "inference"):
        flags = [f for e in image_extras(DOCKER / f"{image}.Dockerfile") for f in ("--extra", e)]
        exported = parse_export(lock_export(*flags, hashes=True))
        assert exported, image
        for name, (req, hashes) in exported.items():
            assert str(req.specifier) == f"=={locked[name]}", f"{image}: {req} is not the lock's {locked[name]}"
            assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in hashes), f"{image}: {name}"
    bot, inference = image_requirements("bot"), image_requirements("inference")
    assert excluded_packages(bot, MODEL_STACK) == set(), "the bot image would install the model stack"
    assert excluded_packages(inference, BOT_ONLY) == set(), "the inference image would install the bot's packages"
    assert {"python-telegram-bot", "aiolimiter", "apscheduler"} <= set(bot), \
        "python-telegram-bot with its rate-limiter and job-queue extras"
    assert {"torch", "ultralytics", "onnxruntime", "opencv-python-headless"} <= set(inference)


@pytest.mark.parametrize("extra", sorted(EXTRA_EXCLUDES))
def test_extra_leaves_out_the_model_stack(extra: str) -> None:
    """``pip install .[bot]`` pulls in no torch, Ultralytics or OpenCV; ``.[service]`` no torch or
    Ultralytics (nor the bot's packages): from the lock's resolution of that extra alone."""
    excluded, needed = EXTRA_EXCLUDES[extra]
    requirements = extra_requirements(extra)
    assert needed in requirements
    assert excluded_packages(requirements, excluded) == set()


def test_extra_check_sees_the_model_stack() -> None:
    found = excluded_packages(extra_requirements("bot", "gpu"), EXTRA_EXCLUDES["bot"][0])
    assert {"torch", "ultralytics", "opencv-python-headless", "nvidia-cublas"} <= found


def test_lock_holds_only_the_headless_opencv() -> None:
    """Ultralytics asks for opencv-python (the GUI build, libGL); [tool.uv]'s override keeps it out
    of the lock, so no image or environment needs to swap it for the headless build."""
    locked = lock_versions()
    assert "opencv-python" not in locked and "opencv-python-headless" in locked


def uv_lock_check(project: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """``uv lock --check``: does uv.lock still match pyproject.toml? Offline, with an empty cache
    (a lock that matches is checked without any package index)."""
    return subprocess.run([uv_executable(), "lock", "--check", "--offline", "--no-config", "--project", str(project)],
                          capture_output=True, text=True, timeout=120,
                          env=_uv_env(UV_CACHE_DIR=str(tmp_path / "uv-cache")))


def test_lock_matches_pyproject(tmp_path: Path) -> None:
    out = uv_lock_check(ROOT, tmp_path)
    assert out.returncode == 0, f"uv.lock is stale: run scripts/lock.sh\n{out.stderr}"


def test_lock_check_sees_a_changed_dependency(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(LOCK, project / "uv.lock")
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    changed = text.replace('"asyncpg>=', '"asyncpg>=0.29.1,<1", "asyncpg-stub>=', 1)
    assert changed != text
    (project / "pyproject.toml").write_text(changed, encoding="utf-8")
    assert uv_lock_check(project, tmp_path).returncode != 0


def _module_file(module: str) -> Path | None:
    base = ROOT / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


#: The project's own top-level packages (followed by the import walk, copied, not installed).
PROJECT_PACKAGES = ("bot", "inference", "localchat", "messages")
#: Modules that only the training runs (it exports the models to ONNX: the `onnx` package of the
#: train extra), reached from the service's code only inside the models' ``export_*`` functions.
#: The walk does not follow them; image_coverage_problems checks that no walked file imports one
#: at load time.
TRAIN_ONLY = ("inference.models.onnx_export", "inference.models.quantize", "inference.train")


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "text"`` assignments."""
    return {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
            for target in node.targets if isinstance(target, ast.Name)}


def _resource_package(node: ast.AST, constants: dict[str, str]) -> str | None:
    """The package of ``importlib.resources.files("pkg")`` (or ``files(PKG)``, PKG a module constant):
    data read from an installed package, which no import statement shows."""
    if not (isinstance(node, ast.Call) and node.args):
        return None
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if name != "files":
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.Name):
        return constants.get(arg.id)
    return None


def import_closure(entry: str = "bot.__main__") -> tuple[set[str], set[Path]]:
    """Third-party top-level modules and project files reachable from ``entry``, following
    every import in the project's own files (those inside functions too) and the packages read
    with ``importlib.resources.files``."""
    third_party: set[str] = set()
    seen: set[Path] = set()
    todo = [entry]
    while todo:
        module = todo.pop()
        if module.startswith(TRAIN_ONLY):
            continue
        path = _module_file(module)
        if path is None or path in seen:
            continue
        seen.add(path)
        parts = module.split(".")
        # importing a.b.c runs a/__init__.py and a/b/__init__.py first
        todo.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        package = parts if path.name == "__init__.py" else parts[:-1]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = _string_constants(tree)
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
                names = [target] + [f"{target}.{alias.name}" for alias in node.names]
            elif resource := _resource_package(node, constants):
                names = [resource]
            for name in names:
                top = name.split(".")[0]
                if top in PROJECT_PACKAGES:
                    todo.append(name)
                elif top and top not in sys.stdlib_module_names and top != "__future__":
                    third_party.add(top)
    return third_party, seen


def load_time_imports(path: Path, module: str) -> set[str]:
    """Project modules ``path`` imports when it is loaded (its module-level statements, not the
    bodies of its functions and classes' methods), resolved to absolute names."""
    parts = module.split(".")
    package = parts if path.name == "__init__.py" else parts[:-1]
    found: set[str] = set()

    def visit(statements: list[ast.stmt]) -> None:
        for node in statements:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
                found.update([target, *(f"{target}.{alias.name}" for alias in node.names)])
            elif isinstance(node, ast.If | ast.Try | ast.With | ast.ClassDef):
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(ast.parse(path.read_text(encoding="utf-8")).body)
    return found


def image_copies(image: str) -> tuple[str, ...]:
    """What the image's final stage copies of the project (its Dockerfile's COPY sources)."""
    instructions = dockerfile_instructions(DOCKER / f"{image}.Dockerfile")
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return tuple(source for word, rest in instructions[last_from:] if word == "COPY" and "--from=" not in rest
                 for source in rest.split()[:-1])


ENTRY_POINTS = {"bot": "bot.__main__", "inference": "inference.__main__"}
#: Modules the walk must find, or it saw too little (the fonts' package only through
#: importlib.resources).
EXPECTED_IMPORTS = {
    "bot": {"telegram", "aiohttp", "aiosqlite", "asyncpg", "jinja2", "matplotlib", "pylopdf_fonts_ko"},
    "inference": {"torch", "ultralytics", "onnxruntime", "cv2", "aiohttp", "prometheus_client",
                  "pylopdf_fonts_ko"},
}
#: What the bot must never import (its image has none of them).
BOT_FORBIDDEN_IMPORTS = {"torch", "torchvision", "ultralytics", "segmentation_models_pytorch", "onnx",
                         "onnxruntime", "cv2"}


def image_coverage_problems(image: str, requirements: dict[str, Requirement]) -> list[str]:
    """Packages the image's entry point imports that its requirements do not bring, and project
    files it runs that the Dockerfile does not copy."""
    entry = ENTRY_POINTS[image]
    modules, files = import_closure(entry)
    assert EXPECTED_IMPORTS[image] <= modules, "the import walk found too little"
    providers = importlib.metadata.packages_distributions()
    # the export is the whole resolution (dependencies included): nothing else is installed
    covered = set(requirements)
    problems = []
    for module in sorted(modules):
        dists = {canonicalize_name(d) for d in providers.get(module, [])}
        if not dists & covered:
            problems.append(f"{entry} imports {module} ({sorted(dists)}), not among the {image} image's "
                            f"requirements (uv.lock's extras {list(image_extras(DOCKER / f'{image}.Dockerfile'))})")
    if image == "bot" and modules & BOT_FORBIDDEN_IMPORTS:
        problems.append(f"the bot imports the model stack: {sorted(modules & BOT_FORBIDDEN_IMPORTS)}")
    copies = image_copies(image)
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        if not any(rel == c or (c.endswith("/") and rel.startswith(c)) for c in copies):
            problems.append(f"{entry} runs {rel}, which {image}.Dockerfile does not copy")
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for name in load_time_imports(path, module):
            if name.startswith(TRAIN_ONLY):
                problems.append(f"{rel} imports {name} when loaded: training code in the {image} image's way")
    return problems


@pytest.mark.parametrize("image", sorted(ENTRY_POINTS))
def test_image_requirements_cover_every_import_of_its_entry_point(image: str) -> None:
    assert image_coverage_problems(image, image_requirements(image)) == []


@pytest.mark.parametrize("image, dropped", [("bot", "aiosqlite"), ("bot", "pylopdf-fonts-ko"),
                                            ("inference", "segmentation-models-pytorch"),
                                            ("inference", "onnxruntime")])
def test_image_coverage_check_sees_a_missing_requirement(image: str, dropped: str) -> None:
    requirements = image_requirements(image)
    del requirements[dropped]
    problems = image_coverage_problems(image, requirements)
    assert any(f"[{dropped!r}]" in p for p in problems), problems


def test_image_coverage_check_sees_a_file_not_copied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "image_copies", lambda image: ("bot/",))
    problems = image_coverage_problems("bot", image_requirements("bot"))
    assert "bot.__main__ runs messages/__init__.py, which bot.Dockerfile does not copy" in problems


def test_import_walk_follows_package_data_and_sees_training_imports(tmp_path: Path) -> None:
    """The walk reads importlib.resources.files (the bot's templates in messages/, its chart's
    font) and the load-time check sees a service module importing the training's export."""
    modules, files = import_closure("bot.__main__")
    assert "pylopdf_fonts_ko" in modules
    assert ROOT / "messages/__init__.py" in files
    unet = ROOT / "inference/models/unet.py"
    assert not {n for n in load_time_imports(unet, "inference.models.unet") if n.startswith(TRAIN_ONLY)}
    copy_ = tmp_path / "unet.py"
    copy_.write_text("from .onnx_export import add_metadata\n" + unet.read_text(encoding="utf-8"), encoding="utf-8")
    assert "inference.models.onnx_export" in load_time_imports(copy_, "inference.models.unet")


# ---------------------------------------------------------------------------------------------
# The documentation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("readme", [DEPLOY / "README.md", ROOT / "README.md"], ids=["deploy", "project"])
def test_readmes_document_every_variable_the_code_reads(code_env: set[str], readme: Path) -> None:
    text = readme.read_text(encoding="utf-8")
    table = {m for m in re.findall(r"^\| `([A-Z][A-Z0-9_]*)`", text, flags=re.M)}
    assert code_env - table == set(), f"add them to {readme.relative_to(ROOT)}'s Configuration table"
    assert "```mermaid" in text
