"""External checkers of the chart's rendered manifests, used by test_chart.py: `kubernetes-validate`
(the Kubernetes OpenAPI schemas, per version) and `checkov` (security and best-practice policies,
on the rendered chart and on the SAM template infra/aws/template.yaml), plus the list of checkov
findings the project accepts, parsed from the chart README's table "Accepted checkov findings".

Both tools are PyPI packages pinned in tests/requirements.txt. checkov runs offline: no platform
API key, no download of external policies or guidelines, no update check.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import checkov.version
import kubernetes_validate
from kubernetes_validate import utils as kv_utils
from packaging.version import Version

# -- kubernetes-validate --------------------------------------------------------------------------


def newest_kubernetes_minors(count: int = 3) -> list[str]:
    """The `count` newest Kubernetes minor versions whose schemas the installed
    kubernetes-validate ships (e.g. ['1.35', '1.36', '1.37']), oldest first."""
    minors = {kv_utils.major_minor(version) for version in kv_utils.all_versions()}
    return sorted(minors, key=Version)[-count:]


def kubernetes_validate_version() -> str:
    return kubernetes_validate.version.__version__


class NoSchema(Exception):
    """kubernetes-validate has no schema for the object's kind (a CRD such as ServiceMonitor)."""


def validation_errors(obj: dict[str, Any], version: str) -> list[str]:
    """Problems of `obj` against the strict schema of Kubernetes `version` (unknown fields are
    errors); raises NoSchema for kinds the package does not know."""
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(p) for p in error.path) or "(root)"
        return [f"{path}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError as error:
        raise NoSchema(error.message) from None
    return []


# -- checkov --------------------------------------------------------------------------------------

CHECKOV_ENV = {
    # Offline: no mapping / guideline / policy download from the Prisma Cloud platform, no PyPI
    # update check (both also need no API key, and none is passed).
    "BC_SKIP_MAPPING": "TRUE",
    "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
    "LOG_LEVEL": "WARNING",
}
CHECKOV_TIMEOUT_S = 180


@dataclass(frozen=True)
class Finding:
    target: str  # "default", "production" (chart renders) or "sam"
    check_id: str
    check_name: str
    resource: str  # checkov's id: Kind.namespace.name, or AWS::Type.LogicalId
    file: str

    def __str__(self) -> str:
        return f"[{self.target}] {self.check_id} {self.resource} ({self.check_name}; {self.file})"


@dataclass
class CheckovRun:
    target: str
    passed: int
    failed: list[Finding]
    resource_count: int
    parsing_errors: int


def checkov_version() -> str:
    return checkov.version.version


def start_checkov(path: Path, framework: str) -> subprocess.Popen[str]:
    """Starts checkov on a directory (or file) for one framework; see finish_checkov."""
    flag = "-d" if path.is_dir() else "-f"
    command = [
        sys.executable,
        "-m",
        "checkov.main",
        flag,
        str(path),
        "--framework",
        framework,
        "--skip-download",
        "--compact",
        "--output",
        "json",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_API_KEY", "PRISMA_"))}
    env.update(CHECKOV_ENV)
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def finish_checkov(process: subprocess.Popen[str], target: str) -> CheckovRun:
    try:
        stdout, stderr = process.communicate(timeout=CHECKOV_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise RuntimeError(f"checkov ({target}) ran over {CHECKOV_TIMEOUT_S} s") from None
    # checkov exits 1 when a check failed; anything else is a crash.
    if process.returncode not in (0, 1):
        raise RuntimeError(f"checkov ({target}) exited {process.returncode}:\n{stderr}\n{stdout}")
    try:
        report = json.loads(stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"checkov ({target}) printed no JSON:\n{stderr}\n{stdout}") from None
    reports = report if isinstance(report, list) else [report]
    passed = resources = errors = 0
    failed: list[Finding] = []
    for one in reports:
        summary = one.get("summary", one)
        passed += summary.get("passed", 0)
        resources += summary.get("resource_count", 0)
        errors += summary.get("parsing_errors", 0)
        for item in one.get("results", {}).get("failed_checks", []):
            failed.append(
                Finding(
                    target=target,
                    check_id=item["check_id"],
                    check_name=item["check_name"],
                    resource=item["resource"],
                    file=item.get("file_path", ""),
                )
            )
    return CheckovRun(target, passed, failed, resources, errors)


# -- the accepted findings (chart README) ---------------------------------------------------------

SKIP_SECTION = "## Accepted checkov findings"
# | `CKV_K8S_15` | `chart: *` | reason |
SKIP_ROW = re.compile(
    r"^\|\s*`(?P<check>CKV2?_[A-Z0-9]+_\d+)`\s*\|\s*`(?P<scope>[^`]+)`\s*\|(?P<reason>.*)\|\s*$"
)
TARGETS = {
    "chart": ("default", "production"),
    "default": ("default",),
    "production": ("production",),
    "sam": ("sam",),
}


@dataclass(frozen=True)
class Accepted:
    check_id: str
    targets: tuple[str, ...]
    resources: tuple[str, ...]  # fnmatch patterns over checkov's resource ids
    reason: str
    scope: str

    def covers(self, finding: Finding) -> bool:
        return (
            finding.check_id == self.check_id
            and finding.target in self.targets
            and any(fnmatch.fnmatchcase(finding.resource, p) for p in self.resources)
        )

    def __str__(self) -> str:
        return f"{self.check_id} `{self.scope}`"


def accepted_findings(readme: Path) -> list[Accepted]:
    """The table under SKIP_SECTION in the chart README: one row per accepted check, its scope
    `<target>: <resource pattern>[, <pattern>...]` (target chart = both renders, default,
    production or sam) and a reason (required). Raises ValueError on a malformed table."""
    text = readme.read_text()
    if SKIP_SECTION not in text:
        raise ValueError(f"{readme} has no section {SKIP_SECTION!r}")
    section = text.split(SKIP_SECTION, 1)[1].split("\n## ", 1)[0]
    accepted: list[Accepted] = []
    for line in section.splitlines():
        if not line.startswith("|") or set(line) <= set("|-: ") or "Check" in line.split("|")[1]:
            continue
        match = SKIP_ROW.match(line)
        if not match:
            raise ValueError(f"malformed row in {SKIP_SECTION!r}: {line!r}")
        scope = match["scope"]
        target, _, patterns = scope.partition(":")
        if target.strip() not in TARGETS or not patterns.strip():
            raise ValueError(f"scope {scope!r} is not `<chart|default|production|sam>: <patterns>`")
        reason = match["reason"].strip()
        if len(reason) < 20:
            raise ValueError(f"{match['check']}: the reason is missing or too short: {reason!r}")
        accepted.append(
            Accepted(
                check_id=match["check"],
                targets=TARGETS[target.strip()],
                resources=tuple(p.strip() for p in patterns.split(",") if p.strip()),
                reason=reason,
                scope=scope,
            )
        )
    if not accepted:
        raise ValueError(f"no rows under {SKIP_SECTION!r}")
    return accepted
