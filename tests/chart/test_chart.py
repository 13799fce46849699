#!/usr/bin/env python3
"""Checks the Helm chart charts/miroir with the real Helm engine (PyPI `helm-python-sdk`, import
name `helm_python`; offline, no cluster): lint, values.schema.json rules, template-time rules and
the rendered manifests.

    python3 tests/chart/test_chart.py charts/miroir [shared/core/src/config/default.yaml]
    python3 tests/chart/test_chart.py charts/miroir --write-configs DIR

Prints one line per check and exits 1 at the first failure, naming what was expected. With
--write-configs, instead writes the config.yaml the chart renders for the default values and for
values-production.yaml to DIR/default.yaml and DIR/production.yaml (for a check with Miroir's own
config loader). Driven by tests/system/tests/helm_chart.rs (so `cargo test --workspace` runs it).
Needs `helm-python-sdk` and `pyyaml`.
"""

from __future__ import annotations

import base64
import copy
import sys
from pathlib import Path
from typing import Any, Callable

import helm_python as helm
import yaml

RELEASE = "miroir"
NAMESPACE = "search"

# Values turning a default install into valid multi-pod configurations.
REDIS_IN_CHART = {"taskStore": {"backend": "redis"}, "redis": {"enabled": True}}
SHARED_RATE_LIMIT = {"miroir": {"admin": {"loginRateLimit": {"backend": "redis"}}}}


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
    for item in workload["spec"]["template"]["spec"]["containers"]:
        if item["name"] == name:
            return item
    raise CheckFailed(f"{workload['kind']} {workload['metadata']['name']} has no container {name}")


def env_of(item: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["name"]: entry for entry in item.get("env", [])}


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

        default = self.render()
        prod = self.render(production)
        self.rendered_default(default)
        self.rendered_production(prod)
        self.rendered_variants()
        for label, rendered in (("default", default), ("production", prod)):
            for name in (RELEASE, f"{RELEASE}-migrate"):
                self.check(
                    f"{label}: ConfigMap {name} config.yaml uses only keys of default.yaml",
                    lambda rendered=rendered, name=name: self.only_known_keys(rendered, name),
                )
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
