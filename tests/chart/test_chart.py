#!/usr/bin/env python3
"""Checks the Helm chart charts/miroir with the real Helm engine (PyPI `helm-python-sdk`, import
name `helm_python`; offline, no cluster): lint, values.schema.json rules, template-time rules and
the rendered manifests (including the production hardening: security contexts, writable volumes,
disruption budgets, topology spread, NetworkPolicies, ServiceMonitor, shutdown timings). Then the
rendered objects go through `kubernetes-validate` (strict schemas of the three newest Kubernetes
minors it ships) and, with the SAM template infra/aws/template.yaml, through `checkov` (offline),
where only the findings listed in the chart README's "Accepted checkov findings" may fail
(chart_tools.py, beside this file).

    python3 tests/chart/test_chart.py charts/miroir [shared/core/src/config/default.yaml]
    python3 tests/chart/test_chart.py charts/miroir --write-configs DIR

Prints one line per check and exits 1 at the first failure, naming what was expected. With
--write-configs, instead writes the config.yaml the chart renders for the default values and for
values-production.yaml to DIR/default.yaml and DIR/production.yaml (for a check with Miroir's own
config loader). Driven by tests/system/tests/helm_chart.rs (so `cargo test --workspace` runs it).
Needs `helm-python-sdk`, `pyyaml`, `kubernetes-validate` and `checkov` (tests/requirements.txt).
"""

from __future__ import annotations

import base64
import copy
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import helm_python as helm
import yaml

try:
    import chart_tools  # beside this file; needs kubernetes-validate and checkov
except ImportError as missing:
    sys.exit(f"{missing}: pip install -r tests/requirements.txt")

RELEASE = "miroir"
NAMESPACE = "search"

# Values turning a default install into valid multi-pod configurations.
REDIS_IN_CHART = {"taskStore": {"backend": "redis"}, "redis": {"enabled": True}}
SHARED_RATE_LIMIT = {"miroir": {"admin": {"loginRateLimit": {"backend": "redis"}}}}
# Every optional feature on, over values-production.yaml.
INGRESS_PEER = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress"}}}
EVERYTHING_ON = {
    "miroir": {"adminApiKey": "admin-key-0123456789"},
    "networkPolicy": {"enabled": True, "miroirFrom": [INGRESS_PEER]},
    "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
}
# Kinds whose objects create pods.
POD_KINDS = ("Deployment", "StatefulSet", "Job", "Pod")


class CheckFailed(Exception):
    pass


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of value layers, later ones winning."""
    out: dict[str, Any] = {}
    for layer in layers:
        _merge_into(out, copy.deepcopy(layer))
    return out


def _merge_into(target: dict[str, Any], layer: dict[str, Any]) -> None:
    for key, value in layer.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = value


def ensure(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class Rendered:
    """The manifests of one render, by (kind, name)."""

    def __init__(self, manifests: dict[str, str]) -> None:
        self.files = manifests
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        for path, text in manifests.items():
            if path.endswith("NOTES.txt"):
                continue
            for document in yaml.safe_load_all(text):
                if not document:
                    continue
                key = (document["kind"], document["metadata"]["name"])
                ensure(key not in self.objects, f"{key} is rendered twice")
                document["_template"] = path
                self.objects[key] = document

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = self.objects.get((kind, name))
        names = sorted(f"{k}/{n}" for k, n in self.objects)
        ensure(found is not None, f"no {kind} {name} rendered; rendered: {names}")
        return found  # type: ignore[return-value]

    def has(self, kind: str, name: str) -> bool:
        return (kind, name) in self.objects

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [obj for (k, _), obj in self.objects.items() if k == kind]


def annotations(obj: dict[str, Any]) -> dict[str, str]:
    return obj["metadata"].get("annotations") or {}


def container(workload: dict[str, Any], name: str) -> dict[str, Any]:
    for item in pod_spec(workload)["containers"]:
        if item["name"] == name:
            return item
    raise CheckFailed(f"{workload['kind']} {workload['metadata']['name']} has no container {name}")


def env_of(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in item.get("env", [])}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"] if obj["kind"] == "Pod" else obj["spec"]["template"]["spec"]


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    meta = obj["metadata"] if obj["kind"] == "Pod" else obj["spec"]["template"]["metadata"]
    return meta.get("labels") or {}


def workloads(rendered: Rendered) -> list[dict[str, Any]]:
    return [obj for obj in rendered.objects.values() if obj["kind"] in POD_KINDS]


def label(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A Kubernetes LabelSelector (matchLabels and matchExpressions) against labels; an empty
    selector selects everything."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def security_problems(obj: dict[str, Any]) -> list[str]:
    """How a pod-creating object falls short of the restrictive security context: non-root with
    an explicit uid (several images default to root, which runAsNonRoot alone would refuse to
    start), RuntimeDefault seccomp, and per container no privilege escalation, no privilege, a
    read-only root filesystem and every capability dropped."""
    name = label(obj)
    spec = pod_spec(obj)
    pod = spec.get("securityContext") or {}
    problems = []
    if pod.get("runAsNonRoot") is not True:
        problems.append(f"{name}: pod runAsNonRoot is {pod.get('runAsNonRoot')!r}")
    uid = pod.get("runAsUser")
    if not isinstance(uid, int) or uid < 1000:
        problems.append(f"{name}: pod runAsUser is {uid!r}, not a non-root uid >= 1000")
    if (pod.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problems.append(f"{name}: pod seccompProfile is {pod.get('seccompProfile')!r}")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(key):
            problems.append(f"{name}: {key}")
    for item in spec.get("initContainers", []) + spec["containers"]:
        where = f"{name} container {item['name']}"
        context = item.get("securityContext") or {}
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{where}: allowPrivilegeEscalation is not false")
        if context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{where}: readOnlyRootFilesystem is not true")
        if context.get("privileged"):
            problems.append(f"{where}: privileged")
        capabilities = context.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []) or capabilities.get("add"):
            problems.append(f"{where}: capabilities {capabilities} (want drop [ALL], no add)")
        if context.get("runAsUser") == 0 or context.get("runAsNonRoot") is False:
            problems.append(f"{where}: runs as root")
    return problems


def writable_mounts(obj: dict[str, Any], name: str) -> dict[str, str]:
    """Writable mount path -> kind of volume (emptyDir, persistentVolumeClaim, claimTemplate) of
    container `name`."""
    spec = pod_spec(obj)
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    templates = (
        {t["metadata"]["name"] for t in obj["spec"].get("volumeClaimTemplates", [])}
        if obj["kind"] == "StatefulSet"
        else set()
    )
    out = {}
    for mount in container(obj, name).get("volumeMounts", []):
        if mount.get("readOnly"):
            continue
        if mount["name"] in templates:
            out[mount["mountPath"]] = "claimTemplate"
        else:
            volume = volumes[mount["name"]]
            kinds = [k for k in ("emptyDir", "persistentVolumeClaim") if k in volume]
            out[mount["mountPath"]] = kinds[0] if kinds else f"other {sorted(volume)}"
    return out


def pdb_blocks_drain(pdb: dict[str, Any], replicas: int) -> bool:
    """Would this budget refuse every eviction of `replicas` healthy pods (so `kubectl drain`
    never finishes)? Percentages of minAvailable round up, of maxUnavailable down."""
    spec = pdb["spec"]
    if "maxUnavailable" in spec:
        value = spec["maxUnavailable"]
        if isinstance(value, str):
            return math.floor(int(value.rstrip("%")) * replicas / 100) < 1
        return value < 1
    value = spec["minAvailable"]
    if isinstance(value, str):
        value = math.ceil(int(value.rstrip("%")) * replicas / 100)
    return value >= replicas


def ingress_rules(rendered: Rendered, obj: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The ingress rules that apply to `obj`'s pods (the union over the NetworkPolicies that
    select them), or None when no policy selects them (all ingress allowed)."""
    labels = pod_labels(obj)
    selecting = [
        policy
        for policy in rendered.of_kind("NetworkPolicy")
        if "Ingress" in policy["spec"].get("policyTypes", ["Ingress"])
        and selects(policy["spec"]["podSelector"], labels)
    ]
    if not selecting:
        return None
    return [rule for policy in selecting for rule in policy["spec"].get("ingress", [])]


def allowed_sources(rendered: Rendered, rules: list[dict[str, Any]]) -> set[str]:
    """The rendered workloads whose pods some rule lets in; "*" when a rule admits any source,
    "external" when a peer is not a same-namespace podSelector."""
    sources: set[str] = set()
    for rule in rules:
        if "from" not in rule:
            sources.add("*")
            continue
        for peer in rule["from"]:
            if set(peer) != {"podSelector"}:
                sources.add("external")
                continue
            sources.update(
                label(obj)
                for obj in workloads(rendered)
                if selects(peer["podSelector"], pod_labels(obj))
            )
    return sources


def config_of(rendered: Rendered, name: str) -> dict[str, Any]:
    text = rendered.get("ConfigMap", name)["data"]["config.yaml"]
    config = yaml.safe_load(text)
    ensure(
        isinstance(config, dict) and list(config) == ["miroir"],
        f"ConfigMap {name}: config.yaml must hold exactly one top-level key `miroir`, got {text!r}",
    )
    return config


def unknown_keys(config: Any, defaults: Any, path: str) -> list[str]:
    """Keys of `config` absent from `defaults` (default.yaml), walking maps and lists."""
    if isinstance(config, dict):
        if not isinstance(defaults, dict):
            return [f"{path} is a section in the chart's config but a value in default.yaml"]
        problems = []
        for key, value in config.items():
            key_path = f"{path}.{key}" if path else str(key)
            if key not in defaults:
                problems.append(key_path)
            else:
                problems.extend(unknown_keys(value, defaults[key], key_path))
        return problems
    if isinstance(config, list):
        if not isinstance(defaults, list):
            return [f"{path} is a list in the chart's config but not in default.yaml"]
        return []
    return []


NODE_KEYS = {"id", "address", "replica_group"}  # the `nodes: [{id, address, replica_group}]` entry


class Suite:
    def __init__(self, chart_path: Path, default_config_path: Path) -> None:
        self.chart_path = chart_path
        self.chart = helm.Chart.load(chart_path)
        self.production = helm.values_from_yaml((chart_path / "values-production.yaml").read_text())
        self.defaults = yaml.safe_load(default_config_path.read_text())
        self.sam_template = Path(__file__).resolve().parents[2] / "infra/aws/template.yaml"
        self.checkov_started = time.monotonic()
        self.count = 0

    def check(self, name: str, body: Callable[[], None]) -> None:
        try:
            body()
        except CheckFailed as failure:
            print(f"FAIL {name}: {failure}")
            sys.exit(1)
        except helm.HelmError as error:
            print(f"FAIL {name}: unexpected {type(error).__name__}: {error}")
            sys.exit(1)
        self.count += 1
        print(f"ok   {name}")

    def render(self, values: dict[str, Any] | None = None) -> Rendered:
        return Rendered(
            self.chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        )

    # -- lint ---------------------------------------------------------------------------------

    def lint_clean(self, values: dict[str, Any] | None, label: str) -> None:
        report = helm.lint(self.chart_path, values=values, strict=True)
        serious = [m for m in report.get("messages", []) if m.get("severity", 0) >= 2]
        ensure(not serious, f"lint --strict ({label}) reported {serious}")
        ensure(not report.get("errors"), f"lint --strict ({label}) errors: {report['errors']}")

    # -- schema -------------------------------------------------------------------------------

    def rejected(self, values: dict[str, Any], *expected: str) -> None:
        """The schema refuses `values`, naming each `expected` text; so does a render."""
        try:
            self.chart.validate_schema(values)
        except helm.HelmValuesError as error:
            message = str(error)
        else:
            raise CheckFailed(f"the schema accepted {values}")
        for text in expected:
            ensure(text in message, f"message lacks {text!r}:\n{message}")
        try:
            self.chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        except helm.HelmValuesError as error:
            ensure(expected[0] in str(error), f"render message lacks {expected[0]!r}: {error}")
        else:
            raise CheckFailed(f"render accepted {values}")

    def accepted(self, values: dict[str, Any]) -> None:
        try:
            self.chart.validate_schema(values)
        except helm.HelmValuesError as error:
            raise CheckFailed(f"the schema refused {values}:\n{error}") from None
        try:
            self.render(values)
        except (helm.HelmRenderError, helm.HelmValuesError) as error:
            raise CheckFailed(f"render refused {values}:\n{error}") from None

    def render_fails(self, values: dict[str, Any], expected: str) -> None:
        try:
            self.chart.validate_schema(values)
        except helm.HelmValuesError as error:
            raise CheckFailed(f"expected a template failure, the schema refused: {error}") from None
        try:
            self.chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        except helm.HelmRenderError as error:
            ensure(expected in str(error), f"render error lacks {expected!r}: {error}")
        else:
            raise CheckFailed(f"render accepted {values}")

    def run(self) -> None:
        production = self.production
        self.check("lint --strict: default values", lambda: self.lint_clean(None, "default values"))
        self.check(
            "lint --strict: values-production.yaml",
            lambda: self.lint_clean(production, "values-production.yaml"),
        )

        rejections: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
            (
                "schema refuses miroir.replicas > 1 with taskStore.backend=sqlite",
                merged(SHARED_RATE_LIMIT, {"miroir": {"replicas": 2}}),
                (
                    "miroir.replicas > 1 requires taskStore.backend=redis (SQLite is single-writer",
                    "at '/taskStore/backend': value must be 'redis'",
                ),
            ),
            (
                "schema refuses miroir.hpa.enabled with miroir.replicas < 2",
                merged(REDIS_IN_CHART, SHARED_RATE_LIMIT, {"miroir": {"hpa": {"enabled": True}}}),
                (
                    "miroir.hpa.enabled requires miroir.replicas >= 2",
                    "at '/miroir/replicas': minimum: got 1, want 2",
                ),
            ),
            (
                "schema refuses miroir.hpa.enabled without taskStore.backend=redis",
                {
                    "miroir": {
                        "replicas": 2,
                        "hpa": {"enabled": True},
                        "admin": {"loginRateLimit": {"backend": "redis"}},
                    }
                },
                ("miroir.hpa.enabled requires taskStore.backend=redis",),
            ),
            (
                "schema refuses loginRateLimit.backend=local with several replicas",
                merged(REDIS_IN_CHART, {"miroir": {"replicas": 3}}),
                (
                    "miroir.admin.loginRateLimit.backend=local allows one Miroir pod only",
                    "at '/miroir/admin/loginRateLimit/backend': value must be 'redis'",
                ),
            ),
            (
                "schema refuses loginRateLimit.backend=local with the HPA",
                merged(
                    REDIS_IN_CHART,
                    {"miroir": {"replicas": 2, "hpa": {"enabled": True}}},
                ),
                ("miroir.admin.loginRateLimit.backend=local allows one Miroir pod only",),
            ),
            (
                "schema refuses loginRateLimit.backend=redis on a SQLite task store",
                SHARED_RATE_LIMIT,
                ("miroir.admin.loginRateLimit.backend=redis requires taskStore.backend=redis",),
            ),
            (
                "schema refuses an unknown taskStore.backend",
                {"taskStore": {"backend": "postgres"}},
                ("at '/taskStore/backend': value must be one of 'sqlite', 'redis'",),
            ),
            (
                "schema refuses an unknown loginRateLimit.backend",
                {"miroir": {"admin": {"loginRateLimit": {"backend": "memcached"}}}},
                (
                    "at '/miroir/admin/loginRateLimit/backend': value must be one of "
                    "'local', 'redis'",
                ),
            ),
            (
                "schema refuses an unknown scatter.unavailableShardPolicy",
                {"miroir": {"scatter": {"unavailableShardPolicy": "ignore"}}},
                ("value must be one of 'partial', 'error'",),
            ),
            (
                "schema refuses miroir.shards < 1",
                {"miroir": {"shards": 0}},
                ("at '/miroir/shards': minimum: got 0, want 1",),
            ),
            (
                "schema refuses a typo inside a section (additionalProperties)",
                {"miroir": {"replica": 2}},
                ("at '/miroir': additional properties 'replica' not allowed",),
            ),
            (
                "schema refuses an unknown top-level section",
                {"meili": {"replicas": 2}},
                ("additional properties 'meili' not allowed",),
            ),
            (
                "schema refuses taskStore.backend=redis without any Redis",
                {"taskStore": {"backend": "redis"}},
                ("taskStore.backend=redis needs a Redis",),
            ),
            (
                "schema refuses redis.enabled on a SQLite task store",
                {"redis": {"enabled": True}},
                ("redis.enabled requires taskStore.backend=redis",),
            ),
            (
                "schema refuses two Redis sources at once",
                merged(REDIS_IN_CHART, {"taskStore": {"redis": {"url": "redis://cache:6379/0"}}}),
                ("use one Redis",),
            ),
            (
                "schema refuses an unknown topologySpread whenUnsatisfiable",
                {
                    "miroir": {
                        "topologySpread": [
                            {"topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "Maybe"}
                        ]
                    }
                },
                (
                    "at '/miroir/topologySpread/0/whenUnsatisfiable': value must be one of "
                    "'ScheduleAnyway', 'DoNotSchedule'",
                ),
            ),
            (
                "schema refuses a ServiceMonitor token other than the admin or master key",
                {"serviceMonitor": {"enabled": True, "secretKey": "nodeMasterKey"}},
                (
                    "at '/serviceMonitor/secretKey': value must be one of 'adminApiKey', 'masterKey'",
                ),
            ),
            (
                "schema refuses a ServiceMonitor interval that is not a duration",
                {"serviceMonitor": {"interval": "30 seconds"}},
                ("at '/serviceMonitor/interval': '30 seconds' does not match pattern",),
            ),
            (
                "schema refuses both maxUnavailable and minAvailable for Meilisearch",
                {"meilisearch": {"podDisruptionBudget": {"minAvailable": 1}}},
                ("meilisearch.podDisruptionBudget: set maxUnavailable or minAvailable, not both",),
            ),
            (
                "schema refuses a minAvailable that is neither a count nor a percentage",
                {"miroir": {"podDisruptionBudget": {"minAvailable": "half"}}},
                ("at '/miroir/podDisruptionBudget/minAvailable': 'half' does not match pattern",),
            ),
            (
                "schema refuses a negative preStopSleepSeconds",
                {"miroir": {"preStopSleepSeconds": -1}},
                ("at '/miroir/preStopSleepSeconds': minimum: got -1, want 0",),
            ),
            (
                "schema refuses an unknown networkPolicy key",
                {"networkPolicy": {"enabled": True, "allowFrom": []}},
                ("at '/networkPolicy': additional properties 'allowFrom' not allowed",),
            ),
        ]
        for name, values, expected in rejections:
            self.check(
                name, lambda values=values, expected=expected: self.rejected(values, *expected)
            )

        valid: list[tuple[str, dict[str, Any]]] = [
            ("default values", {}),
            ("values-production.yaml", production),
            ("one pod on the in-chart Redis, local rate limit", REDIS_IN_CHART),
            (
                "three pods on Redis, no HPA",
                merged(REDIS_IN_CHART, SHARED_RATE_LIMIT, {"miroir": {"replicas": 3}}),
            ),
            (
                "HPA on an external Redis URL",
                merged(
                    SHARED_RATE_LIMIT,
                    {
                        "miroir": {"replicas": 2, "hpa": {"enabled": True, "maxReplicas": 4}},
                        "taskStore": {
                            "backend": "redis",
                            "redis": {"url": "rediss://cache:6380/1"},
                        },
                    },
                ),
            ),
            (
                "three pods on a Redis Cluster",
                merged(
                    SHARED_RATE_LIMIT,
                    {
                        "miroir": {"replicas": 3},
                        "taskStore": {
                            "backend": "redis",
                            "redis": {"url": "redis+cluster://redis-0:6379,redis-1:6379"},
                        },
                    },
                ),
            ),
            (
                "Redis URL from an existing Secret",
                {"taskStore": {"backend": "redis", "redis": {"urlSecret": {"name": "store"}}}},
            ),
            (
                "nodesPerGroup derived from replicas / replicaGroups",
                {
                    "miroir": {"replicaGroups": 3},
                    "meilisearch": {"replicas": 6, "nodesPerGroup": None},
                },
            ),
            ("an existing Secret", {"miroir": {"existingSecret": "keys"}}),
            (
                "extraConfig with a known section",
                {"miroir": {"extraConfig": {"health": {"interval_ms": 2000}}}},
            ),
            ("every optional feature on (production)", merged(production, EVERYTHING_ON)),
            (
                "a Meilisearch budget by minAvailable (maxUnavailable set to null)",
                {
                    "meilisearch": {
                        "podDisruptionBudget": {"maxUnavailable": None, "minAvailable": 1}
                    }
                },
            ),
            (
                "no preStop hook and a shorter grace",
                {"miroir": {"preStopSleepSeconds": 0, "terminationGracePeriodSeconds": 20}},
            ),
            (
                "required spread and percentage budgets",
                merged(
                    production,
                    {
                        "miroir": {
                            "podDisruptionBudget": {"minAvailable": "50%"},
                            "topologySpread": [
                                {
                                    "topologyKey": "topology.kubernetes.io/zone",
                                    "whenUnsatisfiable": "DoNotSchedule",
                                    "maxSkew": 2,
                                }
                            ],
                        },
                        "meilisearch": {"podDisruptionBudget": {"maxUnavailable": "25%"}},
                    },
                ),
            ),
            (
                "no budgets, no spread",
                {
                    "miroir": {"podDisruptionBudget": {"enabled": False}, "topologySpread": []},
                    "meilisearch": {
                        "podDisruptionBudget": {"enabled": False},
                        "topologySpread": [],
                    },
                },
            ),
        ]
        for name, values in valid:
            self.check(
                f"schema and render accept {name}", lambda values=values: self.accepted(values)
            )

        self.check(
            "render refuses replicationFactor > nodesPerGroup (template fail)",
            lambda: self.render_fails(
                {"miroir": {"replicationFactor": 3}},
                "miroir.replicationFactor (3) exceeds meilisearch.nodesPerGroup (2)",
            ),
        )
        self.check(
            "render refuses meilisearch.replicas != replicaGroups x nodesPerGroup",
            lambda: self.render_fails(
                {"meilisearch": {"replicas": 3}},
                "meilisearch.replicas (3) must equal miroir.replicaGroups (1)",
            ),
        )
        self.check(
            "render refuses hpa.maxReplicas below replicas",
            lambda: self.render_fails(
                merged(production, {"miroir": {"replicas": 5, "hpa": {"maxReplicas": 4}}}),
                "miroir.hpa.maxReplicas (4) is below miroir.replicas (5)",
            ),
        )
        self.check(
            "render refuses a termination grace shorter than the preStop sleep + 20 s",
            lambda: self.render_fails(
                {"miroir": {"terminationGracePeriodSeconds": 29}},
                "miroir.terminationGracePeriodSeconds (29) must be at least "
                "miroir.preStopSleepSeconds (10) + 20",
            ),
        )
        self.check(
            "render refuses a Miroir budget that would block kubectl drain (minAvailable)",
            lambda: self.render_fails(
                merged(production, {"miroir": {"podDisruptionBudget": {"minAvailable": 2}}}),
                "miroir.podDisruptionBudget.minAvailable (2) must be below miroir.replicas (2)",
            ),
        )
        self.check(
            "render refuses a Miroir budget of 100%",
            lambda: self.render_fails(
                merged(production, {"miroir": {"podDisruptionBudget": {"minAvailable": "100%"}}}),
                "miroir.podDisruptionBudget.minAvailable (100%) would block every voluntary",
            ),
        )
        self.check(
            "render refuses a Meilisearch budget that would block kubectl drain",
            lambda: self.render_fails(
                {
                    "meilisearch": {
                        "podDisruptionBudget": {"maxUnavailable": None, "minAvailable": 2}
                    }
                },
                "meilisearch.podDisruptionBudget.minAvailable (2) must be below "
                "meilisearch.replicas (2)",
            ),
        )

        default = self.render()
        prod = self.render(production)
        everything = self.render(merged(production, EVERYTHING_ON))
        with tempfile.TemporaryDirectory(prefix="miroir-chart-") as scratch:
            # checkov takes a few seconds per target: it runs while the other checks do.
            checkov = self.start_checkov(Path(scratch), {"default": default, "production": prod})
            try:
                self.rendered_default(default)
                self.rendered_production(prod)
                self.rendered_variants()
                for label, rendered in (("default", default), ("production", prod)):
                    for name in (RELEASE, f"{RELEASE}-migrate"):
                        self.check(
                            f"{label}: ConfigMap {name} config.yaml uses only keys of default.yaml",
                            lambda rendered=rendered, name=name: self.only_known_keys(
                                rendered, name
                            ),
                        )
                self.hardening(default, prod, everything)
                self.kubernetes_validate(
                    {"default": default, "production": prod, "everything on": everything}
                )
                self.checkov(checkov)
            finally:
                for process in checkov.values():
                    if process.poll() is None:
                        process.kill()
                        process.wait()
        print(f"all {self.count} chart checks passed")

    # -- rendered manifests -------------------------------------------------------------------

    def only_known_keys(self, rendered: Rendered, name: str) -> None:
        config = config_of(rendered, name)
        problems = unknown_keys(config, self.defaults, "")
        ensure(not problems, f"keys absent from default.yaml: {problems}")
        for index, node in enumerate(config["miroir"].get("nodes", [])):
            extra = set(node) - NODE_KEYS
            ensure(not extra, f"nodes[{index}] has keys {sorted(extra)} beyond {sorted(NODE_KEYS)}")

    def rendered_default(self, r: Rendered) -> None:
        job_name = f"{RELEASE}-migrate"

        def job_hook() -> None:
            job = r.get("Job", job_name)
            notes = annotations(job)
            ensure(notes.get("helm.sh/hook") == "pre-install,pre-upgrade", f"hook: {notes}")
            ensure(notes.get("helm.sh/hook-weight") == "0", f"hook-weight: {notes}")
            ensure(
                notes.get("helm.sh/hook-delete-policy") == "before-hook-creation,hook-succeeded",
                f"hook-delete-policy: {notes}",
            )
            ensure(job["spec"].get("activeDeadlineSeconds") == 300, f"spec: {job['spec']}")
            ensure(isinstance(job["spec"].get("backoffLimit"), int), "no backoffLimit")
            migrate = container(job, "migrate")
            ensure(
                migrate.get("image") == "ghcr.io/miroir-search/miroir:0.1.0",
                f"the Job runs {migrate.get('image')}, not the Deployment's image",
            )
            ensure(migrate.get("command") == ["miroir-migrate", "up"], f"command: {migrate}")

        self.check(
            "migration Job is a pre-install,pre-upgrade hook, weight 0, deadline 300", job_hook
        )

        def job_uses_hook_resources() -> None:
            job = r.get("Job", job_name)
            pod = job["spec"]["template"]["spec"]
            volumes = {v["name"]: v for v in pod["volumes"]}
            ensure(volumes["config"]["configMap"]["name"] == job_name, f"volumes: {volumes}")
            ensure(
                volumes["data"]["persistentVolumeClaim"]["claimName"] == f"{RELEASE}-data",
                f"volumes: {volumes}",
            )
            env = env_of(container(job, "migrate"))
            ensure(env["MIROIR_CONFIG"]["value"] == "/etc/miroir/config.yaml", f"env: {env}")
            ensure(
                env["MIROIR_TASK_STORE_URL"]["value"] == "sqlite:///data/tasks.db", f"env: {env}"
            )
            for var in ("MIROIR_MASTER_KEY", "MIROIR_NODE_MASTER_KEY", "MIROIR_ADMIN_API_KEY"):
                ref = env[var]["valueFrom"]["secretKeyRef"]
                ensure(ref["name"] == job_name and ref["optional"] is True, f"{var}: {ref}")
            ensure(
                "serviceAccountName" not in pod,
                "the Job must not use the chart's ServiceAccount (absent during pre-install)",
            )

        self.check(
            "migration Job reads the hook ConfigMap, hook Secret and SQLite claim",
            job_uses_hook_resources,
        )

        def hook_config_and_secret() -> None:
            for kind in ("ConfigMap", "Secret"):
                notes = annotations(r.get(kind, job_name))
                ensure(notes.get("helm.sh/hook") == "pre-install,pre-upgrade", f"{kind}: {notes}")
                ensure(int(notes.get("helm.sh/hook-weight", "0")) < 0, f"{kind} weight: {notes}")
                ensure(
                    notes.get("helm.sh/hook-delete-policy") == "before-hook-creation",
                    f"{kind} delete policy: {notes}",
                )
            ensure(
                config_of(r, job_name) == config_of(r, RELEASE),
                "the hook ConfigMap differs from the Deployment's",
            )

        self.check(
            "hook ConfigMap and Secret: same hooks, lower weight, recreated each run",
            hook_config_and_secret,
        )

        def sqlite_claim() -> None:
            claim = r.get("PersistentVolumeClaim", f"{RELEASE}-data")
            notes = annotations(claim)
            ensure(notes.get("helm.sh/hook") == "pre-install", f"claim: {notes}")
            ensure(int(notes["helm.sh/hook-weight"]) < -1, f"claim weight: {notes}")
            ensure(notes.get("helm.sh/resource-policy") == "keep", f"claim: {notes}")
            ensure(claim["spec"]["accessModes"] == ["ReadWriteOnce"], f"claim: {claim['spec']}")

        self.check("SQLite claim is a kept pre-install hook weighted before the Job", sqlite_claim)

        def probes() -> None:
            miroir = container(r.get("Deployment", RELEASE), "miroir")
            ensure(
                miroir["livenessProbe"]["httpGet"]["path"] == "/health",
                f"liveness: {miroir['livenessProbe']}",
            )
            ensure(
                miroir["readinessProbe"]["httpGet"]["path"] == "/_miroir/ready",
                f"readiness: {miroir['readinessProbe']}",
            )
            ensure(
                miroir["resources"]
                == {
                    "requests": {"cpu": "500m", "memory": "1Gi"},
                    "limits": {"cpu": "2000m", "memory": "3584Mi"},
                },
                f"resources: {miroir['resources']}",
            )

        self.check(
            "Deployment probes: liveness /health, readiness /_miroir/ready; resources", probes
        )

        def env() -> None:
            deployment = r.get("Deployment", RELEASE)
            variables = env_of(container(deployment, "miroir"))
            ensure(
                variables["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name",
                f"POD_NAME: {variables.get('POD_NAME')}",
            )
            ensure(
                variables["POD_IP"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.podIP",
                f"POD_IP: {variables.get('POD_IP')}",
            )
            ensure(
                variables["MIROIR_CONFIG"]["value"] == "/etc/miroir/config.yaml", "MIROIR_CONFIG"
            )
            ensure(
                variables["MIROIR_TASK_STORE_URL"]["value"] == "sqlite:///data/tasks.db",
                f"MIROIR_TASK_STORE_URL: {variables['MIROIR_TASK_STORE_URL']}",
            )
            for var, key in (
                ("MIROIR_MASTER_KEY", "masterKey"),
                ("MIROIR_NODE_MASTER_KEY", "nodeMasterKey"),
                ("MIROIR_ADMIN_API_KEY", "adminApiKey"),
            ):
                ref = variables[var]["valueFrom"]["secretKeyRef"]
                ensure(ref == {"name": RELEASE, "key": key, "optional": True}, f"{var}: {ref}")
            pod = deployment["spec"]["template"]["spec"]
            mounts = {
                m["mountPath"]: m["name"] for m in container(deployment, "miroir")["volumeMounts"]
            }
            ensure(
                mounts.get("/data") == "data" and mounts.get("/etc/miroir") == "config",
                f"mounts: {mounts}",
            )
            claims = [
                v["persistentVolumeClaim"]["claimName"]
                for v in pod["volumes"]
                if "persistentVolumeClaim" in v
            ]
            ensure(claims == [f"{RELEASE}-data"], f"claims: {claims}")
            ensure(deployment["spec"]["replicas"] == 1, "one replica by default")
            ensure(deployment["spec"]["strategy"]["type"] == "Recreate", "SQLite needs Recreate")

        self.check(
            "Deployment env: POD_NAME/POD_IP (Downward API), config, SQLite URL, optional keys", env
        )

        def services() -> None:
            service = r.get("Service", RELEASE)
            ensure(
                [p["port"] for p in service["spec"]["ports"]] == [7700], f"ports: {service['spec']}"
            )
            headless = r.get("Service", f"{RELEASE}-headless")["spec"]
            ensure(
                headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is True,
                f"{headless}",
            )
            meili = r.get("Service", f"{RELEASE}-meilisearch-headless")["spec"]
            ensure(meili["clusterIP"] == "None", f"{meili}")

        self.check("Services: 7700, headless with publishNotReadyAddresses", services)

        def default_shape() -> None:
            config = config_of(r, RELEASE)["miroir"]
            ensure(
                config["task_store"] == {"backend": "sqlite"}, f"task_store: {config['task_store']}"
            )
            ensure(
                config["server"] == {"bind": "0.0.0.0", "port": 7700}, f"server: {config['server']}"
            )
            ensure(config["background"] == {"enabled": True}, f"background: {config['background']}")
            ensure(
                config["scatter"] == {"unavailable_shard_policy": "partial"}, f"{config['scatter']}"
            )
            ensure(
                (config["shards"], config["replication_factor"], config["replica_groups"])
                == (64, 1, 1),
                f"{config}",
            )
            ensure(
                [n["replica_group"] for n in config["nodes"]] == [0, 0], f"nodes: {config['nodes']}"
            )
            ensure(not r.has("HorizontalPodAutoscaler", RELEASE), "no HPA by default")
            ensure(not r.has("Deployment", f"{RELEASE}-redis"), "no Redis by default")
            secret = r.get("Secret", RELEASE)
            ensure(not secret.get("data"), f"empty keys must be left out of the Secret: {secret}")
            stateful = r.get("StatefulSet", f"{RELEASE}-meilisearch")
            meili = container(stateful, "meilisearch")
            ensure(meili["image"] == "getmeili/meilisearch:v1.37.0", f"image: {meili['image']}")
            ensure(stateful["spec"]["replicas"] == 2, "two Meilisearch nodes")
            ensure(
                stateful["spec"]["serviceName"] == f"{RELEASE}-meilisearch-headless", "serviceName"
            )
            size = stateful["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"][
                "storage"
            ]
            ensure(size == "50Gi", f"claim size {size}")
            master = env_of(meili)["MEILI_MASTER_KEY"]["valueFrom"]["secretKeyRef"]
            ensure(
                master["name"] == RELEASE and master["key"] == "nodeMasterKey",
                f"MEILI_MASTER_KEY: {master}",
            )
            account = r.get("ServiceAccount", RELEASE)
            ensure(account["kind"] == "ServiceAccount", "ServiceAccount")

        self.check(
            "default: SQLite config, 2 nodes in group 0, no HPA/Redis, Meilisearch v1.37.0",
            default_shape,
        )

        def connection_test() -> None:
            pod = r.get("Pod", f"{RELEASE}-connection-test")
            ensure(annotations(pod).get("helm.sh/hook") == "test", f"{annotations(pod)}")
            item = pod["spec"]["containers"][0]
            command = " ".join(item.get("command", []) + item.get("args", []))
            ensure(item["image"].startswith("busybox"), f"image: {item['image']}")
            ensure(
                command == f"wget -qO- http://{RELEASE}:7700/_miroir/ready",
                f"command: {command}",
            )
            ensure(
                pod["_template"].endswith("templates/tests/connection-test.yaml"), pod["_template"]
            )

        self.check("helm test pod: busybox wget of /_miroir/ready", connection_test)

    def rendered_production(self, r: Rendered) -> None:
        redis_url = f"redis://{RELEASE}-redis:6379/0"

        def store_url() -> None:
            for kind, name, item in (
                ("Deployment", RELEASE, "miroir"),
                ("Job", f"{RELEASE}-migrate", "migrate"),
            ):
                variables = env_of(container(r.get(kind, name), item))
                ensure(
                    variables["MIROIR_TASK_STORE_URL"].get("value") == redis_url,
                    f"{kind} MIROIR_TASK_STORE_URL: {variables['MIROIR_TASK_STORE_URL']}",
                )
            ensure(
                not r.has("PersistentVolumeClaim", f"{RELEASE}-data"), "no SQLite claim on Redis"
            )
            job = r.get("Job", f"{RELEASE}-migrate")
            ensure(
                all(
                    "persistentVolumeClaim" not in v
                    for v in job["spec"]["template"]["spec"]["volumes"]
                ),
                "the Job mounts no claim on Redis",
            )

        self.check(
            "production: MIROIR_TASK_STORE_URL is the in-chart Redis (Deployment and Job)",
            store_url,
        )

        def redis() -> None:
            deployment = r.get("Deployment", f"{RELEASE}-redis")
            ensure(container(deployment, "redis")["image"] == "redis:7", "redis:7 image")
            args = container(deployment, "redis")["args"]
            ensure(
                args[args.index("--appendfsync") + 1] == "always",
                f"no acknowledged task lost on a crash: {args}",
            )
            service = r.get("Service", f"{RELEASE}-redis")
            ensure([p["port"] for p in service["spec"]["ports"]] == [6379], f"{service['spec']}")
            for obj in (deployment, service):
                notes = annotations(obj)
                ensure(
                    notes.get("helm.sh/hook") == "pre-install",
                    f"Redis must exist before the Job: {notes}",
                )
                ensure(int(notes["helm.sh/hook-weight"]) < 0, f"weight: {notes}")

        self.check("production: in-chart Redis Deployment + Service (pre-install hooks)", redis)

        def hpa() -> None:
            autoscaler = r.get("HorizontalPodAutoscaler", RELEASE)
            ensure(autoscaler["apiVersion"] == "autoscaling/v2", autoscaler["apiVersion"])
            spec = autoscaler["spec"]
            ensure((spec["minReplicas"], spec["maxReplicas"]) == (2, 24), f"{spec}")
            targets = {
                m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
                for m in spec["metrics"]
            }
            ensure(targets == {"cpu": 70, "memory": 75}, f"metrics: {targets}")
            deployment = r.get("Deployment", RELEASE)
            ensure("replicas" not in deployment["spec"], "the HPA owns the replica count")
            ensure("strategy" not in deployment["spec"], "Redis: default RollingUpdate")

        self.check("production: HPA autoscaling/v2 min 2 max 24, cpu 70% memory 75%", hpa)

        def nodes() -> None:
            config = config_of(r, RELEASE)["miroir"]
            ensure((config["replica_groups"], config["replication_factor"]) == (2, 2), f"{config}")
            ensure(config["task_store"] == {"backend": "redis"}, f"{config['task_store']}")
            expected = [
                {
                    "id": f"{RELEASE}-meilisearch-{i}",
                    "address": (
                        f"http://{RELEASE}-meilisearch-{i}.{RELEASE}-meilisearch-headless"
                        f".{NAMESPACE}.svc.cluster.local:7700"
                    ),
                    "replica_group": i // 2,
                }
                for i in range(4)
            ]
            ensure(config["nodes"] == expected, f"nodes: {config['nodes']}")
            ensure(
                r.get("StatefulSet", f"{RELEASE}-meilisearch")["spec"]["replicas"] == 4, "4 nodes"
            )

        self.check("production: 4 nodes from StatefulSet DNS, groups 0,0,1,1, RF 2", nodes)

    def rendered_variants(self) -> None:
        def external_url() -> None:
            url = "rediss://user:pw@cache.example:6380/2"
            r = self.render(
                merged(
                    self.production,
                    {"redis": {"enabled": False}, "taskStore": {"redis": {"url": url}}},
                )
            )
            variables = env_of(container(r.get("Deployment", RELEASE), "miroir"))
            ensure(
                variables["MIROIR_TASK_STORE_URL"]["value"] == url,
                f"{variables['MIROIR_TASK_STORE_URL']}",
            )
            ensure(
                not r.has("Deployment", f"{RELEASE}-redis"),
                "no in-chart Redis with an external URL",
            )

        self.check("external Redis: taskStore.redis.url is MIROIR_TASK_STORE_URL", external_url)

        def url_secret() -> None:
            r = self.render(
                {
                    "taskStore": {
                        "backend": "redis",
                        "redis": {"urlSecret": {"name": "store", "key": "u"}},
                    }
                }
            )
            for kind, name, item in (
                ("Deployment", RELEASE, "miroir"),
                ("Job", f"{RELEASE}-migrate", "migrate"),
            ):
                ref = env_of(container(r.get(kind, name), item))["MIROIR_TASK_STORE_URL"][
                    "valueFrom"
                ]
                ensure(ref["secretKeyRef"] == {"name": "store", "key": "u"}, f"{kind}: {ref}")

        self.check(
            "external Redis: taskStore.redis.urlSecret feeds MIROIR_TASK_STORE_URL", url_secret
        )

        def existing_secret() -> None:
            r = self.render({"miroir": {"existingSecret": "keys"}})
            ensure(not r.of_kind("Secret"), f"no Secret with existingSecret: {r.of_kind('Secret')}")
            for kind, name, item in (
                ("Deployment", RELEASE, "miroir"),
                ("Job", f"{RELEASE}-migrate", "migrate"),
            ):
                ref = env_of(container(r.get(kind, name), item))["MIROIR_ADMIN_API_KEY"][
                    "valueFrom"
                ]
                ensure(ref["secretKeyRef"]["name"] == "keys", f"{kind}: {ref}")

        self.check(
            "existingSecret: no Secret rendered, Deployment and Job read it", existing_secret
        )

        def keys() -> None:
            r = self.render({"miroir": {"masterKey": "mk-123", "adminApiKey": "admin"}})
            for name in (RELEASE, f"{RELEASE}-migrate"):
                data = r.get("Secret", name)["data"]
                decoded = {k: base64.b64decode(v).decode() for k, v in data.items()}
                ensure(
                    decoded == {"masterKey": "mk-123", "adminApiKey": "admin"}, f"{name}: {decoded}"
                )

        self.check("Secrets hold exactly the keys that are set", keys)

        def deadline() -> None:
            r = self.render({"migration": {"activeDeadlineSeconds": 120, "backoffLimit": 1}})
            spec = r.get("Job", f"{RELEASE}-migrate")["spec"]
            ensure((spec["activeDeadlineSeconds"], spec["backoffLimit"]) == (120, 1), f"{spec}")

        self.check("migration.activeDeadlineSeconds and backoffLimit reach the Job", deadline)

        def extra_config() -> None:
            r = self.render({"miroir": {"extraConfig": {"health": {"interval_ms": 2000}}}})
            config = config_of(r, RELEASE)
            ensure(config["miroir"]["health"] == {"interval_ms": 2000}, f"{config}")
            problems = unknown_keys(config, self.defaults, "")
            ensure(not problems, f"keys absent from default.yaml: {problems}")

        self.check("extraConfig merges into the config file", extra_config)

    # -- production hardening -----------------------------------------------------------------

    def hardening(self, default: Rendered, prod: Rendered, everything: Rendered) -> None:
        renders = {"default": default, "production": prod, "everything on": everything}

        def security(r: Rendered) -> None:
            found = workloads(r)
            ensure(len(found) >= 4, f"expected every workload, got {[label(o) for o in found]}")
            problems = [problem for obj in found for problem in security_problems(obj)]
            ensure(not problems, "\n".join(problems))

        for name, r in renders.items():
            self.check(
                f"{name}: every pod non-root, RuntimeDefault seccomp; every container read-only "
                "root, no privilege escalation, all capabilities dropped",
                lambda r=r: security(r),
            )

        def security_detects() -> None:
            r = self.render({"miroir": {"securityContext": {"readOnlyRootFilesystem": False}}})
            problems = security_problems(r.get("Deployment", RELEASE))
            ensure(
                problems
                == [f"Deployment/{RELEASE} container miroir: readOnlyRootFilesystem is not true"],
                f"the security check must flag a writable root filesystem: {problems}",
            )

        self.check("the security-context check flags an override (it can fail)", security_detects)

        def volumes() -> None:
            expected = {
                "default": {
                    ("Deployment", RELEASE, "miroir"): {
                        "/tmp": "emptyDir",
                        "/data": "persistentVolumeClaim",
                    },
                    ("Job", f"{RELEASE}-migrate", "migrate"): {
                        "/tmp": "emptyDir",
                        "/data": "persistentVolumeClaim",
                    },
                    ("StatefulSet", f"{RELEASE}-meilisearch", "meilisearch"): {
                        "/tmp": "emptyDir",
                        "/meili_data": "claimTemplate",
                    },
                    ("Pod", f"{RELEASE}-connection-test", "wget"): {},
                },
                "production": {
                    ("Deployment", RELEASE, "miroir"): {"/tmp": "emptyDir"},
                    ("Job", f"{RELEASE}-migrate", "migrate"): {"/tmp": "emptyDir"},
                    ("StatefulSet", f"{RELEASE}-meilisearch", "meilisearch"): {
                        "/tmp": "emptyDir",
                        "/meili_data": "claimTemplate",
                    },
                    ("Deployment", f"{RELEASE}-redis", "redis"): {
                        "/tmp": "emptyDir",
                        "/data": "persistentVolumeClaim",
                    },
                    ("Pod", f"{RELEASE}-connection-test", "wget"): {},
                },
            }
            for name, table in expected.items():
                r = renders[name]
                ensure(
                    {label(o) for o in workloads(r)} == {f"{k}/{n}" for k, n, _ in table},
                    f"{name}: workloads {[label(o) for o in workloads(r)]}",
                )
                for (kind, obj_name, item), mounts in table.items():
                    got = writable_mounts(r.get(kind, obj_name), item)
                    ensure(got == mounts, f"{name} {kind}/{obj_name} {item}: {got} != {mounts}")
            meili = env_of(
                container(prod.get("StatefulSet", f"{RELEASE}-meilisearch"), "meilisearch")
            )
            for var in ("MEILI_DB_PATH", "MEILI_DUMP_DIR", "MEILI_SNAPSHOT_DIR"):
                ensure(
                    meili[var]["value"].startswith("/meili_data/"),
                    f"{var} must be on the data volume: {meili[var]}",
                )
            args = container(prod.get("Deployment", f"{RELEASE}-redis"), "redis")["args"]
            ensure(args[args.index("--dir") + 1] == "/data", f"Redis writes to /data: {args}")

        self.check(
            "writable paths are volumes: /tmp everywhere, /data (SQLite, Redis), /meili_data "
            "(dumps and snapshots too)",
            volumes,
        )

        def shutdown() -> None:
            scatter = self.defaults["miroir"]["scatter"]
            pinning = self.defaults["miroir"]["session_pinning"]
            # The longest a request runs with the default config: a session wait, then a node
            # answer, retried once on timeout.
            request_s = (
                pinning["max_wait_ms"]
                + scatter["node_timeout_ms"] * (2 if scatter["retry_on_timeout"] else 1)
            ) / 1000
            for name in ("default", "production"):
                deployment = renders[name].get("Deployment", RELEASE)
                pod = pod_spec(deployment)
                miroir = container(deployment, "miroir")
                lifecycle = miroir.get("lifecycle")
                ensure(
                    lifecycle == {"preStop": {"sleep": {"seconds": 10}}},
                    f"{name}: the preStop hook must be the native sleep handler (distroless: no "
                    f"shell): {lifecycle}",
                )
                grace = pod["terminationGracePeriodSeconds"]
                ensure(grace == 40, f"{name}: terminationGracePeriodSeconds {grace}")
                sleep = lifecycle["preStop"]["sleep"]["seconds"]
                ensure(
                    grace - sleep >= request_s,
                    f"{name}: {grace} s grace - {sleep} s preStop leaves less than the "
                    f"{request_s} s a request may take",
                )
                period = miroir["readinessProbe"]["periodSeconds"]
                ensure(sleep >= period, f"{name}: preStop {sleep} s < readiness period {period} s")
                meili = pod_spec(renders[name].get("StatefulSet", f"{RELEASE}-meilisearch"))
                ensure(
                    meili["terminationGracePeriodSeconds"] > 30,
                    "Meilisearch waits up to 30 s for in-flight requests",
                )
            r = self.render({"miroir": {"preStopSleepSeconds": 0}})
            ensure(
                "lifecycle" not in container(r.get("Deployment", RELEASE), "miroir"),
                "preStopSleepSeconds 0 must drop the hook",
            )
            chart = yaml.safe_load((self.chart_path / "Chart.yaml").read_text())
            ensure(
                chart["kubeVersion"] == ">=1.30.0-0",
                f"the sleep handler needs Kubernetes 1.30: kubeVersion {chart['kubeVersion']}",
            )

        self.check(
            "Miroir shutdown: preStop sleep 10 s (native handler), grace 40 s covers sleep + "
            "the longest request of default.yaml; Meilisearch grace > 30 s",
            shutdown,
        )

        def budgets() -> None:
            for name, r, replicas, miroir_spec in (
                ("default", default, 1, {"maxUnavailable": 1}),
                ("production", prod, 2, {"minAvailable": 1}),
            ):
                meili_replicas = r.get("StatefulSet", f"{RELEASE}-meilisearch")["spec"]["replicas"]
                for pdb_name, workload, count, spec in (
                    (RELEASE, r.get("Deployment", RELEASE), replicas, miroir_spec),
                    (
                        f"{RELEASE}-meilisearch",
                        r.get("StatefulSet", f"{RELEASE}-meilisearch"),
                        meili_replicas,
                        {"maxUnavailable": 1},
                    ),
                ):
                    pdb = r.get("PodDisruptionBudget", pdb_name)
                    ensure(pdb["apiVersion"] == "policy/v1", pdb["apiVersion"])
                    got = {k: v for k, v in pdb["spec"].items() if k != "selector"}
                    ensure(got == spec, f"{name} PDB {pdb_name}: {got} != {spec}")
                    ensure(
                        not pdb_blocks_drain(pdb, count),
                        f"{name} PDB {pdb_name} blocks kubectl drain of {count} pod(s)",
                    )
                    chosen = [
                        label(o)
                        for o in workloads(r)
                        if selects(pdb["spec"]["selector"], pod_labels(o))
                    ]
                    ensure(chosen == [label(workload)], f"{name} PDB {pdb_name} selects {chosen}")
            ensure(
                pdb_blocks_drain({"spec": {"minAvailable": 1}}, 1)
                and pdb_blocks_drain({"spec": {"minAvailable": "50%"}}, 1)
                and not pdb_blocks_drain({"spec": {"maxUnavailable": 1}}, 1),
                "the drain rule itself",
            )
            three = self.render(
                merged(REDIS_IN_CHART, SHARED_RATE_LIMIT, {"miroir": {"replicas": 3}})
            )
            ensure(
                three.get("PodDisruptionBudget", RELEASE)["spec"].get("minAvailable") == 1,
                "three pods without the HPA: minAvailable",
            )
            off = self.render(
                {
                    "miroir": {"podDisruptionBudget": {"enabled": False}},
                    "meilisearch": {"podDisruptionBudget": {"enabled": False}},
                }
            )
            ensure(not off.of_kind("PodDisruptionBudget"), "enabled: false renders no budget")

        self.check(
            "PodDisruptionBudgets: one Miroir pod maxUnavailable 1, several minAvailable 1, "
            "Meilisearch maxUnavailable 1; none blocks kubectl drain",
            budgets,
        )

        def spread() -> None:
            keys = ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
            for name, r in renders.items():
                for kind, obj_name in (
                    ("Deployment", RELEASE),
                    ("StatefulSet", f"{RELEASE}-meilisearch"),
                ):
                    workload = r.get(kind, obj_name)
                    constraints = pod_spec(workload).get("topologySpreadConstraints") or []
                    ensure(
                        [c["topologyKey"] for c in constraints] == keys,
                        f"{name} {kind}: {constraints}",
                    )
                    for constraint in constraints:
                        ensure(
                            (constraint["maxSkew"], constraint["whenUnsatisfiable"])
                            == (1, "ScheduleAnyway"),
                            f"{name} {kind}: {constraint}",
                        )
                        chosen = [
                            label(o)
                            for o in workloads(r)
                            if selects(constraint["labelSelector"], pod_labels(o))
                        ]
                        ensure(chosen == [label(workload)], f"{name} {kind} spreads {chosen}")
                        ensure(
                            constraint.get("matchLabelKeys")
                            == (["pod-template-hash"] if kind == "Deployment" else None),
                            f"{name} {kind}: matchLabelKeys {constraint.get('matchLabelKeys')}",
                        )
            r = self.render(
                {
                    "miroir": {
                        "topologySpread": [
                            {
                                "topologyKey": "topology.kubernetes.io/zone",
                                "whenUnsatisfiable": "DoNotSchedule",
                                "maxSkew": 2,
                            }
                        ]
                    }
                }
            )
            (only,) = pod_spec(r.get("Deployment", RELEASE))["topologySpreadConstraints"]
            ensure((only["whenUnsatisfiable"], only["maxSkew"]) == ("DoNotSchedule", 2), f"{only}")

        self.check(
            "topology spread: Miroir and Meilisearch over hostname and zone, maxSkew 1, "
            "ScheduleAnyway, each selecting its own pods",
            spread,
        )

        def network_policies() -> None:
            ensure(not default.of_kind("NetworkPolicy"), "no NetworkPolicy by default")
            for name in ("production", "everything on"):
                r = renders[name]
                rules = {label(o): ingress_rules(r, o) for o in workloads(r)}
                unguarded = [w for w, found in rules.items() if found is None]
                ensure(not unguarded, f"{name}: pods no NetworkPolicy selects: {unguarded}")
                clients = {f"Deployment/{RELEASE}", f"Job/{RELEASE}-migrate"}
                for backend, port in (
                    (f"StatefulSet/{RELEASE}-meilisearch", "http"),
                    (f"Deployment/{RELEASE}-redis", "redis"),
                ):
                    sources = allowed_sources(r, rules[backend])
                    ensure(sources == clients, f"{name}: {backend} reachable from {sources}")
                    ports = [p for rule in rules[backend] for p in rule.get("ports", [])]
                    ensure(ports == [{"port": port, "protocol": "TCP"}], f"{backend}: {ports}")
                for closed in (f"Job/{RELEASE}-migrate", f"Pod/{RELEASE}-connection-test"):
                    ensure(rules[closed] == [], f"{name}: {closed} accepts {rules[closed]}")
                miroir_rules = rules[f"Deployment/{RELEASE}"]
                ports = [p for rule in miroir_rules for p in rule.get("ports", [])]
                ensure(ports == [{"port": "http", "protocol": "TCP"}], f"{name}: {ports}")
                named = {
                    p["name"]: p["containerPort"]
                    for p in container(r.get("Deployment", RELEASE), "miroir")["ports"]
                }
                ensure(named == {"http": 7700}, f"container ports {named}")
            sources = allowed_sources(prod, ingress_rules(prod, prod.get("Deployment", RELEASE)))
            ensure(sources == {"*"}, f"production: Miroir open on 7700 by default: {sources}")
            restricted = ingress_rules(everything, everything.get("Deployment", RELEASE))
            ensure(
                allowed_sources(everything, restricted)
                == {"external", f"Pod/{RELEASE}-connection-test"},
                f"miroirFrom: the listed peers and the test pod only: {restricted}",
            )
            ensure(restricted[0]["from"][0] == INGRESS_PEER, f"{restricted}")

        self.check(
            "NetworkPolicy: off by default; on, only Miroir and the migration Job reach "
            "Meilisearch and Redis, Job and test pod closed, Miroir on 7700 (miroirFrom)",
            network_policies,
        )

        def service_monitor() -> None:
            for r in (default, prod):
                ensure(not r.of_kind("ServiceMonitor"), "no ServiceMonitor unless enabled")
            monitor = everything.get("ServiceMonitor", RELEASE)
            ensure(monitor["apiVersion"] == "monitoring.coreos.com/v1", monitor["apiVersion"])
            ensure(monitor["metadata"]["labels"].get("release") == "prometheus", "labels")
            (endpoint,) = monitor["spec"]["endpoints"]
            ensure(
                (endpoint["port"], endpoint["path"], endpoint["interval"])
                == ("http", "/_miroir/metrics", "30s"),
                f"endpoint: {endpoint}",
            )
            token = endpoint.get("bearerTokenSecret")
            ensure(token == {"name": RELEASE, "key": "adminApiKey"}, f"token: {token}")
            secret = everything.get("Secret", RELEASE)["data"]
            ensure(
                base64.b64decode(secret["adminApiKey"]).decode() == "admin-key-0123456789",
                "the token's key is the admin key of the chart's Secret",
            )
            ensure(
                monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]},
                f"{monitor['spec']}",
            )
            scraped = [
                svc["metadata"]["name"]
                for svc in everything.of_kind("Service")
                if selects(monitor["spec"]["selector"], svc["metadata"]["labels"])
            ]
            ensure(scraped == [f"{RELEASE}-headless"], f"scrapes the Services {scraped}")
            ports = [p["name"] for p in everything.get("Service", scraped[0])["spec"]["ports"]]
            ensure("http" in ports, f"ports {ports}")

            def token_of(values: dict[str, Any]) -> Any:
                r = self.render(merged({"serviceMonitor": {"enabled": True}}, values))
                return r.get("ServiceMonitor", RELEASE)["spec"]["endpoints"][0].get(
                    "bearerTokenSecret"
                )

            existing = token_of({"miroir": {"existingSecret": "keys"}})
            ensure(existing == {"name": "keys", "key": "adminApiKey"}, f"{existing}")
            master = token_of(
                {"miroir": {"masterKey": "mk"}, "serviceMonitor": {"secretKey": "masterKey"}}
            )
            ensure(master == {"name": RELEASE, "key": "masterKey"}, f"{master}")
            fallback = token_of({"miroir": {"masterKey": "mk"}})
            ensure(
                fallback == {"name": RELEASE, "key": "masterKey"},
                f"no admin key: the master key guards /_miroir, so it is the token: {fallback}",
            )
            ensure(token_of({}) is None, "no key in the chart's Secret: no token (open /_miroir)")
            self.render_fails(
                {
                    "miroir": {"adminApiKey": "admin"},
                    "serviceMonitor": {"enabled": True, "secretKey": "masterKey"},
                },
                "serviceMonitor.secretKey is masterKey but miroir.masterKey is empty",
            )

        self.check(
            "ServiceMonitor: off by default; scrapes /_miroir/metrics on the headless Service "
            "with the admin key (else the master key) of the chart's Secret or existingSecret",
            service_monitor,
        )

    # -- kubernetes-validate ------------------------------------------------------------------

    def kubernetes_validate(self, renders: dict[str, Rendered]) -> None:
        versions = chart_tools.newest_kubernetes_minors(3)
        tool = chart_tools.kubernetes_validate_version()

        def minimum() -> None:
            ensure(len(versions) == 3, f"kubernetes-validate {tool} knows {versions}")
            ensure(
                all(tuple(map(int, v.split("."))) >= (1, 30) for v in versions),
                f"{versions} predate the chart's kubeVersion >= 1.30",
            )

        self.check(f"kubernetes-validate {tool}: three newest minors {versions}", minimum)

        def valid(r: Rendered, crds: set[str]) -> None:
            problems = []
            unknown = set()
            for (kind, name), obj in r.objects.items():
                document = {k: v for k, v in obj.items() if k != "_template"}
                for version in versions:
                    try:
                        problems += [
                            f"{kind}/{name} on {version}: {e}"
                            for e in chart_tools.validation_errors(document, version)
                        ]
                    except chart_tools.NoSchema:
                        unknown.add(kind)
            ensure(not problems, "\n".join(problems))
            ensure(unknown == crds, f"kinds without a Kubernetes schema: {unknown} (want {crds})")

        for name, r in renders.items():
            crds = {"ServiceMonitor"} if r.of_kind("ServiceMonitor") else set()
            self.check(
                f"kubernetes-validate --strict: {name} render on {', '.join(versions)}",
                lambda r=r, crds=crds: valid(r, crds),
            )

        def detects() -> None:
            deployment = copy.deepcopy(renders["default"].get("Deployment", RELEASE))
            del deployment["_template"]
            pod_spec(deployment)["containers"][0]["lifecycle"]["preStop"]["sleep"]["secs"] = 1
            for version in versions:
                errors = chart_tools.validation_errors(deployment, version)
                ensure(errors, f"an unknown field passed on {version}")

        self.check("kubernetes-validate --strict refuses an unknown field (it can fail)", detects)

    # -- checkov ------------------------------------------------------------------------------

    def start_checkov(self, scratch: Path, renders: dict[str, Rendered]) -> dict[str, Any]:
        """Writes each render to its own directory (checkov's graph checks, such as "every pod
        has a NetworkPolicy", must not see another render's objects) and starts checkov on it
        and on the SAM template."""
        processes = {}
        for name, r in renders.items():
            directory = scratch / name
            directory.mkdir()
            for path, text in r.files.items():
                if path.endswith(".yaml"):
                    (directory / path.replace("/", "__")).write_text(text)
            processes[name] = chart_tools.start_checkov(directory, "kubernetes")
        processes["sam"] = chart_tools.start_checkov(self.sam_template, "cloudformation")
        self.checkov_started = time.monotonic()
        return processes

    def checkov(self, processes: dict[str, Any]) -> None:
        readme = self.chart_path / "README.md"
        accepted: list[chart_tools.Accepted] = []

        def table() -> None:
            try:
                accepted.extend(chart_tools.accepted_findings(readme))
            except ValueError as error:
                raise CheckFailed(str(error)) from None

        self.check(f"{readme.name}: the accepted checkov findings table parses", table)
        runs: dict[str, chart_tools.CheckovRun] = {}

        def collect() -> None:
            for target, process in processes.items():
                try:
                    runs[target] = chart_tools.finish_checkov(process, target)
                except RuntimeError as error:
                    raise CheckFailed(str(error)) from None
            for run in runs.values():
                ensure(
                    run.resource_count > 0 and run.passed > 0 and run.parsing_errors == 0,
                    f"checkov {run.target}: {run.resource_count} resources, {run.passed} passed, "
                    f"{run.parsing_errors} parsing errors",
                )

        self.check(f"checkov {chart_tools.checkov_version()} ran offline on every target", collect)
        print(f"     (checkov: {time.monotonic() - self.checkov_started:.1f} s wall)")
        for target in ("default", "production", "sam"):
            what = "infra/aws/template.yaml" if target == "sam" else f"the {target} render"

            def clean(target: str = target) -> None:
                run = runs[target]
                left = [f for f in run.failed if not any(a.covers(f) for a in accepted)]
                ensure(
                    not left,
                    f"{len(left)} checkov finding(s) neither fixed nor accepted in "
                    f"{readme}:\n" + "\n".join(map(str, left)),
                )

            self.check(f"checkov: no failed check on {what} outside the README's list", clean)

        def no_stale() -> None:
            failed = [f for run in runs.values() for f in run.failed]
            stale = [str(a) for a in accepted if not any(a.covers(f) for f in failed)]
            ensure(not stale, f"accepted findings that no longer occur (remove them): {stale}")

        self.check("checkov: every accepted finding still occurs (the list is current)", no_stale)


def write_configs(chart_path: Path, directory: Path) -> None:
    chart = helm.Chart.load(chart_path)
    production = helm.values_from_yaml((chart_path / "values-production.yaml").read_text())
    for label, values in (("default", None), ("production", production)):
        rendered = Rendered(
            chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
        )
        text = rendered.get("ConfigMap", f"{RELEASE}-migrate")["data"]["config.yaml"]
        target = directory / f"{label}.yaml"
        target.write_text(text)
        print(f"wrote {target}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[2] == "--write-configs":
        write_configs(Path(sys.argv[1]).resolve(), Path(sys.argv[3]))
        return
    if len(sys.argv) not in (2, 3):
        print(__doc__)
        sys.exit(2)
    chart = Path(sys.argv[1]).resolve()
    default_config = (
        Path(sys.argv[2])
        if len(sys.argv) == 3
        else Path(__file__).resolve().parents[2] / "shared/core/src/config/default.yaml"
    )
    print(f"chart {chart} (helm-python-sdk {helm.__version__}, Helm {helm.helm_sdk_version()})")
    Suite(chart, default_config).run()


if __name__ == "__main__":
    main()
