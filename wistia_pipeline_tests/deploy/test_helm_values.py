"""deploy/helm/values.yaml: valid against the chart's keys (chart-values.schema.json), and what its
comments promise: one pod per run, the DuckDB volume shared by code-server and run pods
(ReadWriteMany), tokens from Kubernetes Secrets only, storage in an external PostgreSQL, the
instance settings of dagster.yaml, and a webserver nobody reaches but through the authenticating
proxy."""

from __future__ import annotations

import copy
import json
from pathlib import Path, PurePosixPath

import jsonschema
import pytest
import yaml

from wistia_pipeline.accounts import ACCOUNTS_VARIABLE, SECRET_KEYS, load_accounts
from wistia_pipeline.alerts import WEBSERVER_URL_ENV
from wistia_pipeline.settings import VARIABLES, SettingsError
from wistia_pipeline_tests.automation.conftest import REPO

DEPLOY = REPO / "deploy"
SCHEMA = json.loads((DEPLOY / "helm" / "chart-values.schema.json").read_text())
VALUES = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
RELEASE = "dagster"  # the release name the README's `helm upgrade --install` uses
SECRET_SETTINGS = {v.name for v in VARIABLES if v.secret} | {"WISTIA_PUBLIC_TOKEN"}


def load(path: str):
    return yaml.safe_load((DEPLOY / path).read_text())


def errors(values: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values)]


@pytest.fixture
def deployment() -> dict:
    [only] = VALUES["dagster-user-deployments"]["deployments"]
    return only


@pytest.fixture
def run_launcher() -> dict:
    return VALUES["runLauncher"]["config"]["k8sRunLauncher"]


def test_the_values_are_valid_against_the_charts_keys():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert errors(VALUES) == []


@pytest.mark.parametrize("path, key, value", [
    (["dagster-user-deployments", "deployments", 0], "envSecret", [{"name": "x"}]),  # a misspelt key
    (["runLauncher", "config", "k8sRunLauncher"], "volume", []),
    (["runLauncher"], "type", "K8sRunLaucher"),
    (["dagster-user-deployments", "deployments", 0, "volumes", 0, "persistentVolumeClaim"], "claimName", ""),
    (["dagster-user-deployments", "deployments", 0, "volumes", 1, "configMap"], "nmae", "x"),
    ([], "ingres", {"enabled": False}),
])
def test_the_schema_refuses_what_the_chart_would_not_do(path, key, value):
    values = copy.deepcopy(VALUES)
    node = values
    for step in path:
        node = node[step]
    node[key] = value
    assert errors(values), f"{'/'.join(map(str, path + [key]))} was accepted"


def test_one_kubernetes_job_per_run_in_the_code_locations_image(run_launcher):
    assert VALUES["runLauncher"]["type"] == "K8sRunLauncher"
    assert "image" not in run_launcher  # each run in its code location's image (DAGSTER_CURRENT_IMAGE)
    assert run_launcher["loadInclusterConfig"] is True


def mounted(deployment: dict, kind: str) -> tuple[dict, dict]:
    """The deployment's one volume of `kind` (persistentVolumeClaim, configMap) and its mount."""
    [volume] = [v for v in deployment["volumes"] if kind in v]
    [mount] = [m for m in deployment["volumeMounts"] if m["name"] == volume["name"]]
    return volume, mount


def configmap_accounts_file(tmp_path) -> tuple[dict, Path]:
    """deploy/k8s/accounts-configmap.yaml and its accounts file, written out as the pod sees it."""
    configmap = load("k8s/accounts-configmap.yaml")
    [(key, text)] = configmap["data"].items()
    path = tmp_path / key
    path.write_text(text)
    return configmap, path


def test_the_duckdb_volume_is_shared_by_the_code_server_and_every_run_pod(deployment, run_launcher, tmp_path):
    volume, mount = mounted(deployment, "persistentVolumeClaim")
    # Every account's DuckDB file is on it (the accounts file sets them; two never share one).
    _, path = configmap_accounts_file(tmp_path)
    for account in load_accounts(path, require_secrets=False):
        assert PurePosixPath(account.db_path).parent == PurePosixPath(mount["mountPath"]), account.name
    # Run pods get the deployment's volumes, env and secrets as its container context; listing them
    # in the run launcher as well would mount the volume twice (a pod Kubernetes refuses).
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert run_launcher["volumes"] == run_launcher["volumeMounts"] == run_launcher["envSecrets"] == []
    claim = load("k8s/duckdb-pvc.yaml")
    assert claim["kind"] == "PersistentVolumeClaim"
    assert claim["metadata"]["name"] == volume["persistentVolumeClaim"]["claimName"]
    # Pods on different nodes at once: ReadWriteOnce would attach it to one node only.
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]


def test_the_accounts_file_is_a_configmap_mounted_read_only_where_the_variable_points(deployment, tmp_path):
    volume, mount = mounted(deployment, "configMap")
    configmap, path = configmap_accounts_file(tmp_path)
    assert configmap["kind"] == "ConfigMap"
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    assert mount["readOnly"] is True
    # The variable names the ConfigMap's one key inside the mount: the file the pods read.
    file = PurePosixPath(deployment["env"][ACCOUNTS_VARIABLE])
    assert file.parent == PurePosixPath(mount["mountPath"]) and file.name == path.name
    # Run pods get the same volume and variable (the deployment's config is their container context).
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    # The pipeline's own loader accepts it; it names variables, never tokens.
    accounts = load_accounts(path, require_secrets=False)
    assert [a.name for a in accounts] and all(a.wistia_api_token_env and a.upsales_api_token_env for a in accounts)


def test_every_token_variable_the_accounts_file_names_is_in_the_secret_the_readme_creates(tmp_path):
    """README "Deploying" step 2 creates the Secret the pods read: with every variable the
    ConfigMap's accounts name, so that no account fails its runs on a fresh install."""
    _, path = configmap_accounts_file(tmp_path)
    named = {getattr(a, key) for a in load_accounts(path, require_secrets=False)
             for key in SECRET_KEYS.values() if getattr(a, key)}
    readme = (REPO / "README.md").read_text()
    command = readme[readme.index("kubectl create secret generic wistia-pipeline-tokens"):]
    command = command[:command.index("```")]
    assert named and all(f"--from-literal={name}=" in command for name in sorted(named)), command


def test_a_broken_accounts_configmap_is_refused_by_the_loader_with_one_line(tmp_path):
    configmap = load("k8s/accounts-configmap.yaml")
    [(key, text)] = configmap["data"].items()
    path = tmp_path / key
    path.write_text(text.replace("wistia_api_token_env: ACME_WISTIA_API_TOKEN", "wistia_api_token_env: 0123abcd"))
    with pytest.raises(SettingsError) as error:
        load_accounts(path, require_secrets=False)
    assert "\n" not in str(error.value) and "0123abcd" not in str(error.value)


def test_tokens_come_from_kubernetes_secrets_and_the_plain_env_holds_known_settings(deployment):
    assert [s["name"] for s in deployment["envSecrets"]] == ["wistia-pipeline-tokens"]
    known = {v.name for v in VARIABLES} | {WEBSERVER_URL_ENV, ACCOUNTS_VARIABLE}
    assert set(deployment["env"]) <= known
    assert not set(deployment["env"]) & SECRET_SETTINGS
    text = (DEPLOY / "helm" / "values.yaml").read_text()
    assert "postgresqlPassword" not in text


def test_storage_is_an_external_postgres_with_its_password_from_a_secret():
    postgres = VALUES["postgresql"]
    assert postgres["enabled"] is False  # not the chart's bundled server
    assert VALUES["generatePostgresqlPasswordSecret"] is False
    assert VALUES["global"]["postgresqlSecretName"]
    # The same driver as deploy/dagster.postgres.yaml (SQLAlchemy >= 2.1 defaults to psycopg 3).
    assert postgres["postgresqlScheme"] == load("dagster.postgres.yaml")["storage"]["postgres"]["postgres_db"]["scheme"]


def test_the_instance_gets_the_sections_of_dagster_yaml_and_the_chart_does_not_render_them_twice():
    local = yaml.safe_load((REPO / "dagster.yaml").read_text())
    assert VALUES["additionalInstanceConfig"] == {k: v for k, v in local.items() if k != "telemetry"}
    assert VALUES["telemetry"]["enabled"] == local["telemetry"]["enabled"]
    daemon = VALUES["dagsterDaemon"]
    assert daemon["runMonitoring"]["enabled"] is False and daemon["runRetries"]["enabled"] is False
    assert VALUES["retention"]["enabled"] is False and VALUES["concurrency"]["enabled"] is False
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert daemon["runCoordinator"]["config"]["queuedRunCoordinator"] == {}  # limits: concurrency.runs


def test_the_webserver_is_not_exposed_and_only_the_proxy_reaches_it():
    assert VALUES["ingress"]["enabled"] is False
    webserver = VALUES["dagsterWebserver"]
    assert webserver["service"]["type"] == "ClusterIP"
    assert webserver["enableReadOnly"] is False
    policy = load("k8s/webserver-networkpolicy.yaml")
    assert policy["kind"] == "NetworkPolicy" and policy["spec"]["policyTypes"] == ["Ingress"]
    assert policy["spec"]["podSelector"]["matchLabels"] == {
        "app.kubernetes.io/name": "dagster", "app.kubernetes.io/instance": RELEASE, "component": "dagster-webserver"}
    [rule] = policy["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "oauth2-proxy"}}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": webserver["service"]["port"]}]
    proxy = load("helm/oauth2-proxy.values.yaml")
    upstream = f'"http://{RELEASE}-webserver.wistia.svc.cluster.local:{webserver["service"]["port"]}/"'
    assert f"upstreams = [ {upstream} ]" in proxy["config"]["configFile"]
    assert proxy["ingress"]["enabled"] is True  # the one way in: through the proxy's login
    # Alerts link to runs through the proxy's address.
    [host] = proxy["ingress"]["hosts"]
    assert VALUES["dagster-user-deployments"]["deployments"][0]["env"][WEBSERVER_URL_ENV] == f"https://{host}"
