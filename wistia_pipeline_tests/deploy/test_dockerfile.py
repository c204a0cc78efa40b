"""deploy/Dockerfile, checked without Docker: its base image is pyproject's Python, its command is a
`dagster code-server start` that parses and serves a module that imports, the variables it sets
are settings the package knows, it runs as the user and port the Helm values say, and the files
it copies (all that .dockerignore lets through) build the package with its SQL files."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._cli import cli as dagster_cli

from wistia_pipeline.settings import VARIABLES, variable
from wistia_pipeline_tests.automation.conftest import REPO

DOCKERFILE = REPO / "deploy" / "Dockerfile"
VALUES = REPO / "deploy" / "helm" / "values.yaml"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
DAGSTER_VARIABLES = {"DAGSTER_HOME"}
TOOL_PREFIXES = ("PYTHON", "PIP_")  # the interpreter's and pip's own


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", "\n".join(line for line in DOCKERFILE.read_text().splitlines()
                                         if not line.lstrip().startswith("#")))
    result = []
    for line in text.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def only(name: str) -> str:
    [value] = [args for word, args in instructions() if word == name]
    return value


def env() -> dict[str, str]:
    pairs = {}
    for word, args in instructions():
        if word == "ENV":
            pairs.update(dict(re.findall(r"(\w+)=(\S+)", args)))
    return pairs


def command() -> list[str]:
    return json.loads(only("CMD"))  # the exec form: no shell between the container and Dagster


def user_deployment() -> dict:
    [deployment] = yaml.safe_load(VALUES.read_text())["dagster-user-deployments"]["deployments"]
    return deployment


def test_the_base_image_is_the_python_pyproject_requires():
    minimum = re.fullmatch(r">=\s*(\d+\.\d+)", PYPROJECT["project"]["requires-python"]).group(1)
    assert only("FROM") == f"python:{minimum}-slim"
    assert sys.version_info[:2] >= tuple(int(p) for p in minimum.split("."))


def test_the_command_is_a_code_server_for_a_module_that_imports_and_holds_the_definitions():
    args = command()
    assert args[:3] == ["dagster", "code-server", "start"]
    group = dagster_cli.get_command(dagster_cli.make_context("dagster", ["code-server"]), "code-server")
    start = group.get_command(group.make_context("code-server", ["start"]), "start")
    options = start.make_context("start", args[3:]).params  # parses as Dagster would, runs nothing
    assert (options["host"], options["port"]) == ("0.0.0.0", 4000)
    module = importlib.import_module(options["module_name"])
    assert isinstance(module.defs, dg.Definitions)
    assert options["module_name"] == PYPROJECT["tool"]["dg"]["project"]["code_location_target_module"]


def test_the_port_and_module_are_those_the_helm_values_run():
    deployment = user_deployment()
    args = command()
    port = args[args.index("-p") + 1]
    assert only("EXPOSE") == port == str(deployment["port"])
    assert deployment["codeServerArgs"] == ["-m", args[args.index("-m") + 1]]


def test_every_variable_it_sets_is_a_setting_the_package_knows_and_none_is_a_secret():
    known = {v.name for v in VARIABLES}
    for name in env():
        assert name in known | DAGSTER_VARIABLES or name.startswith(TOOL_PREFIXES), name
        assert name not in {v.name for v in VARIABLES if v.secret}
    assert not [n for n in env() if "TOKEN" in n or "PASSWORD" in n]


def test_the_duckdb_file_is_on_the_volume_the_helm_values_mount():
    db = env()["WISTIA_PIPELINE_DB"]
    assert variable("WISTIA_PIPELINE_DB").parse({"WISTIA_PIPELINE_DB": db}) == db
    [volume] = json.loads(only("VOLUME"))
    assert Path(db).parent == Path(volume) == Path("/data")
    deployment = user_deployment()
    assert volume in [m["mountPath"] for m in deployment["volumeMounts"]]
    # The deployment's accounts (many-account mode) keep their DuckDB files on the same volume.
    accounts = yaml.safe_load((REPO / "deploy" / "k8s" / "accounts-configmap.yaml").read_text())
    [text] = accounts["data"].values()
    assert Path(yaml.safe_load(text)["defaults"]["WISTIA_PIPELINE_DB"]).parent == Path(volume)


def test_it_runs_as_a_user_of_its_own_not_root_the_one_the_pods_run_as():
    uid, _, gid = only("USER").partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    security = user_deployment()["podSecurityContext"]
    assert (security["runAsUser"], security["runAsGroup"], security["fsGroup"], security["runAsNonRoot"]) == \
        (int(uid), int(gid), int(gid), True)
    run_pods = yaml.safe_load(VALUES.read_text())["runLauncher"]["config"]["k8sRunLauncher"]
    pod = run_pods["runK8sConfig"]["podSpecConfig"]["security_context"]
    assert (pod["run_as_user"], pod["run_as_group"], pod["fs_group"], pod["run_as_non_root"]) == \
        (int(uid), int(gid), int(gid), True)
    assert f"--uid {uid}" in only("RUN") and f"--gid {gid}" in only("RUN")


def test_it_installs_the_k8s_extra_and_the_dagster_family_is_pinned_in_lockstep():
    assert 'pip install ".[k8s]"' in only("RUN")
    requirements = PYPROJECT["project"]["dependencies"] + [
        r for extra in PYPROJECT["project"]["optional-dependencies"].values() for r in extra]
    pins = dict(re.findall(r"^(dagster[\w-]*)==(\S+)$", "\n".join(requirements), flags=re.M))
    major, minor, patch = pins["dagster"].split(".")
    assert {"dagster-postgres", "dagster-k8s"} <= pins.keys()
    for name, version in pins.items():
        # Libraries are 0.(minor + 16).patch for dagster 1.minor.patch (dagster-duckdb 0.29.27 ~ 1.13.27).
        assert version in (pins["dagster"], f"0.{int(minor) + 16}.{patch}"), (name, version)
    assert f"--version {pins['dagster']}" in VALUES.read_text()  # the Helm chart of the same release
    assert major == "1"


def test_dockerignore_lets_through_exactly_what_the_dockerfile_copies():
    lines = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert lines[0] == "*"  # everything else (.env, data/, .venv, .dagster_home, *.duckdb) stays out
    allowed = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    copied = set()
    for word, args in instructions():
        if word == "COPY":
            *sources, _ = args.split()
            copied.update(s.rstrip("/") for s in sources)
    assert allowed == copied == {"pyproject.toml", "README.md", "wistia_pipeline"}


def test_the_copied_files_build_the_package_with_its_sql(tmp_path):
    context = tmp_path / "context"
    context.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, context / name)
    shutil.copytree(REPO / "wistia_pipeline", context / "wistia_pipeline",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                             "-w", str(tmp_path / "dist"), str(context)],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    [wheel] = (tmp_path / "dist").glob("wistia_pipeline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "wistia_pipeline/definitions.py" in names
    packaged_sql = {n for n in names if n.endswith(".sql")}
    source_sql = {str(p.relative_to(REPO)) for p in (REPO / "wistia_pipeline" / "sql").rglob("*.sql")}
    assert packaged_sql == source_sql and packaged_sql


@pytest.mark.parametrize("name", ["WISTIA_API_TOKEN", "UPSALES_API_TOKEN"])
def test_no_token_is_given_a_value_in_the_image_or_the_values(name):
    assert name not in env()
    assert name not in user_deployment()["env"]
