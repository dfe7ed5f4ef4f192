"""The Kubernetes manifests of deploy/k8s, checked offline: every rendered document against the Kubernetes
schemas (kubernetes-validate, strict: an unknown or misspelt field fails), then what an operator would notice
after `kubectl apply`: probes on the wrong port, env from a ConfigMap or Secret that does not exist, an Ingress
that reaches no pod, a Secret shipped with the manifests.

Rendering uses `kubectl kustomize` when kubectl is installed, else `render_in_python` below, which understands
exactly the kustomize features these kustomizations use (and refuses any other). Where kubectl exists, one test
checks that both renderers agree, so the fallback cannot drift unnoticed.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from services.runtime.cli import SERVICES
from services.runtime.config import ENVIRONMENT_VARIABLES as SETTING_VARIABLES, load_settings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
BASE = K8S / "base"
SECRET_EXAMPLE = BASE / "secret.example.yaml"
KUSTOMIZATIONS = ["base", "overlays/example"]

CONFIGMAP = "certplane-config"
SECRET = "certplane-secrets"
SECRET_KEYS = {"AMQP_URI", "CERTPLANE_DATABASE_URL"}
OPTIONAL_SECRET_KEYS = {"notify": {"CERTPLANE_SMTP_PASSWORD"}}   # marked optional: the Secret may omit them
EXTRA_SECRET_KEYS = {"ca": {"CERTPLANE_CA_KEK"}}                   # required by that service only
PARTS = {"app.kubernetes.io/name": "certplane"}

# The oldest Kubernetes release the manifests promise to work on, and the newest whose schemas are bundled.
KUBERNETES_VERSIONS = ["1.30", kubernetes_validate.latest_version()]

KUBECTL = shutil.which("kubectl")


# ---- rendering ----------------------------------------------------------------------------------------------

def render_with_kubectl(directory: Path) -> list[dict]:
    result = subprocess.run([KUBECTL, "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"kubectl kustomize {directory} failed:\n{result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_in_python(directory: Path) -> list[dict]:
    """A tiny kustomize: `resources` (files and directories), `namespace`, `images` and `patches` given by file
    (strategic merge: maps merge, lists are replaced, which is what kustomize does for the fields patched here).
    Anything else in a kustomization.yaml is refused, so this never renders something kustomize would not."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
    assert not unsupported, f"{directory}: the fallback renderer does not support {sorted(unsupported)}"

    docs: list[dict] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            docs.extend(render_in_python(path))
        else:
            docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)

    for patch_entry in kustomization.get("patches", []):
        assert set(patch_entry) == {"path"}, f"fallback renderer: only `patches: - path: FILE`, not {patch_entry}"
        for patch in yaml.safe_load_all((directory / patch_entry["path"]).read_text()):
            if patch:
                target = _find(docs, patch["kind"], patch["metadata"]["name"])
                target.update(_merge(target, patch))

    for image in kustomization.get("images", []):
        for doc in docs:
            for container in _containers(doc):
                name = _image_name(container["image"])
                if name == image["name"]:
                    tag = image.get("newTag") or container["image"].removeprefix(name).lstrip(":")
                    container["image"] = image.get("newName", name) + (f":{tag}" if tag else "")

    if "namespace" in kustomization:
        for doc in docs:
            doc["metadata"]["namespace"] = kustomization["namespace"]
    return docs


def _merge(into, patch):
    if isinstance(into, dict) and isinstance(patch, dict):
        merged = dict(into)
        for key, value in patch.items():
            merged[key] = _merge(into[key], value) if key in into else value
        return merged
    return patch


def _image_name(image: str) -> str:
    name, _, tag = image.rpartition(":")
    return name if name and "/" not in tag else image


def render(directory: Path) -> list[dict]:
    return render_with_kubectl(directory) if KUBECTL else render_in_python(directory)


# ---- looking things up in rendered documents ------------------------------------------------------------

def _find(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def _containers(doc: dict) -> list[dict]:
    pod = doc.get("spec", {}).get("template", {}).get("spec", {})
    return pod.get("containers", []) + pod.get("initContainers", [])


def _deployment_for(docs: list[dict], service: str) -> dict:
    found = [d for d in _of_kind(docs, "Deployment")
             if d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == service]
    assert len(found) == 1, f"expected one Deployment for service {service!r}, found {len(found)}"
    return found[0]


def _selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


def _container_port(container: dict, port) -> int:
    """A probe's or Service's port (a number or a port name) as the container port number it reaches."""
    if isinstance(port, int):
        return port
    named = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert named, f"container {container['name']} has no port named {port!r}"
    return named[0]


def _is_backend_port(service_port: dict, backend_port: dict) -> bool:
    """An Ingress backend names a Service port either by name or by number."""
    if "name" in backend_port:
        return service_port.get("name") == backend_port["name"]
    return service_port["port"] == backend_port["number"]


def _secret_example() -> dict:
    docs = [doc for doc in yaml.safe_load_all(SECRET_EXAMPLE.read_text()) if doc]
    assert len(docs) == 1
    return docs[0]


def _environment(docs: list[dict], container: dict) -> dict[str, str]:
    """The environment the container's process would see, with the example Secret's values standing in."""
    # The image has no certplane.yaml in its working directory; an empty config file stands in for that here,
    # so a developer's own certplane.yaml cannot change what is tested.
    environ: dict[str, str] = {"CERTPLANE_CONFIG": os.devnull}
    for source in container.get("envFrom", []):
        environ.update(_find(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    secret = _secret_example()["stringData"]
    for variable in container.get("env", []):
        if "value" in variable:
            environ[variable["name"]] = variable["value"]
        elif variable["valueFrom"]["secretKeyRef"]["key"] in secret:
            environ[variable["name"]] = secret[variable["valueFrom"]["secretKeyRef"]["key"]]
        else:   # an optional key the example Secret leaves out, as an operator without SMTP login would
            assert variable["valueFrom"]["secretKeyRef"].get("optional"), variable["name"]
    return environ


@pytest.fixture(scope="module", params=KUSTOMIZATIONS)
def rendered(request) -> list[dict]:
    return render(K8S / request.param)


# ---- the tests ----------------------------------------------------------------------------------------------

def _schema_errors(doc: dict) -> list[str]:
    errors = []
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            errors.append(f"{doc['kind']}/{doc['metadata']['name']} (Kubernetes {version}) {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            errors.append(error.message)   # every kind used here is built in, so a missing schema is a typo
    return errors


def test_every_rendered_document_is_valid_kubernetes(rendered):
    assert rendered
    errors = [error for doc in rendered for error in _schema_errors(doc)]
    assert not errors, "\n".join(errors)


def test_secret_example_is_valid_and_holds_only_placeholders():
    secret = _secret_example()
    assert _schema_errors(secret) == []
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == SECRET
    assert set(secret["stringData"]) == SECRET_KEYS.union(*EXTRA_SECRET_KEYS.values())
    for key, value in secret["stringData"].items():
        placeholder = urlsplit(value).password if key in SECRET_KEYS else value   # URLs: their password
        assert placeholder == "CHANGE-ME", f"{key} in {SECRET_EXAMPLE.name} must be a placeholder"


def test_no_secret_is_rendered_or_listed(rendered):
    assert _of_kind(rendered, "Secret") == []
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    assert SECRET_EXAMPLE.name not in kustomization["resources"]


def test_secret_example_urls_point_at_the_external_services(rendered):
    external = {s["metadata"]["name"]: s["spec"] for s in _of_kind(rendered, "Service")
                if s["spec"].get("type") == "ExternalName"}
    assert set(external) == {"rabbitmq", "postgres"}
    assert all(spec["externalName"].endswith(".svc.cluster.local") for spec in external.values())
    secret = _secret_example()["stringData"]
    assert urlsplit(secret["AMQP_URI"]).hostname == "rabbitmq"
    assert urlsplit(secret["CERTPLANE_DATABASE_URL"]).hostname == "postgres"
    assert secret["CERTPLANE_DATABASE_URL"].startswith("postgresql+psycopg://")


def test_every_service_of_the_cli_has_a_deployment(rendered):
    for service in SERVICES:
        deployment = _deployment_for(rendered, service)
        assert deployment["metadata"]["name"] == f"certplane-{service}"
        assert deployment["spec"]["replicas"] == 2
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert template_labels == {**PARTS, "app.kubernetes.io/component": service}
        assert _selects(deployment["spec"]["selector"]["matchLabels"], template_labels)
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["args"] == ["run", service]


def test_env_comes_from_the_configmap_and_the_documented_secret(rendered):
    readme = (K8S / "README.md").read_text()
    configmap = _find(rendered, "ConfigMap", CONFIGMAP)
    unknown = set(configmap["data"]) - set(SETTING_VARIABLES.values())
    assert not unknown, f"the process ignores these (misspelt?) variables: {sorted(unknown)}"
    for deployment in _of_kind(rendered, "Deployment"):
        for container in _containers(deployment):
            assert [s["configMapRef"]["name"] for s in container["envFrom"]] == [CONFIGMAP]
            refs = [v for v in container["env"] if "valueFrom" in v]
            required = {(v["valueFrom"]["secretKeyRef"]["name"], v["name"], v["valueFrom"]["secretKeyRef"]["key"])
                        for v in refs if not v["valueFrom"]["secretKeyRef"].get("optional")}
            optional = {v["name"] for v in refs if v["valueFrom"]["secretKeyRef"].get("optional")}
            component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
            assert required == {(SECRET, key, key) for key in SECRET_KEYS | EXTRA_SECRET_KEYS.get(component, set())}
            assert optional == OPTIONAL_SECRET_KEYS.get(component, set())
    assert f"kubectl create secret generic {SECRET}" in readme
    assert all(f"--from-literal={key}=" in readme
               for key in SECRET_KEYS.union(*EXTRA_SECRET_KEYS.values()))


def test_processes_run_distributed_and_reachable_from_outside_the_pod(rendered):
    for deployment in _of_kind(rendered, "Deployment"):
        [container] = _containers(deployment)
        settings = load_settings(_environment(rendered, container))
        settings.check()   # what `certplane run` checks first: distributed mode needs a database URL
        assert not settings.embedded
        assert settings.http_host == "0.0.0.0", "on 127.0.0.1 neither probes nor Services can connect"


def test_probes_check_health_on_the_port_the_process_listens_on(rendered):
    for service in SERVICES:
        [container] = _containers(_deployment_for(rendered, service))
        settings = load_settings(_environment(rendered, container))
        # The gateway answers /healthz and /readyz on its HTTP port; other processes on the health port.
        listening = settings.http_port if service == "gateway" else settings.health_port
        opened = [listening, settings.est_port] if service == "gateway" else [listening]
        assert [p["containerPort"] for p in container["ports"]] == opened
        probes = {"livenessProbe": "/healthz", "readinessProbe": "/readyz"}
        if "startupProbe" in container:   # optional; when present it must reach the process too
            probes["startupProbe"] = "/healthz"
        for probe, path in probes.items():
            check = container[probe]["httpGet"]
            assert check["path"] == path, f"{service} {probe}"
            assert _container_port(container, check["port"]) == listening, f"{service} {probe}"


def test_pods_run_as_the_image_user_without_writing_the_root_filesystem(rendered):
    uid = int(re.search(r"^USER (\d+)", (REPO / "Dockerfile").read_text(), re.MULTILINE).group(1))
    for deployment in _of_kind(rendered, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == uid
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in _containers(deployment):
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            [tmp] = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
            assert "emptyDir" in volumes[tmp["name"]]
            for kind in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{container['name']} {kind}"


def test_ingress_reaches_the_gateway_pods(rendered):
    gateway = _deployment_for(rendered, "gateway")
    [gateway_container] = _containers(gateway)
    pod_labels = gateway["spec"]["template"]["metadata"]["labels"]
    listening = load_settings(_environment(rendered, gateway_container)).http_port
    [ingress] = _of_kind(rendered, "Ingress")
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            service = _find(rendered, "Service", backend["name"])
            assert _selects(service["spec"]["selector"], pod_labels)
            for other in _of_kind(rendered, "Deployment"):
                if other is not gateway:
                    assert not _selects(service["spec"]["selector"], other["spec"]["template"]["metadata"]["labels"])
            [port] = [p for p in service["spec"]["ports"] if _is_backend_port(p, backend["port"])]
            assert _container_port(gateway_container, port["targetPort"]) == listening


def test_est_reaches_the_gateways_tls_listener_through_a_tcp_service(rendered):
    """EST reads the client certificate, so its TLS ends in the gateway: a Service (not the Ingress) on the port
    the EST URLs name, to the container port the gateway's EST listener opens."""
    gateway = _deployment_for(rendered, "gateway")
    [container] = _containers(gateway)
    settings = load_settings(_environment(rendered, container))
    assert settings.est_port and settings.est_base_url == f"https://{settings.est_public_host}:{settings.est_port}"
    service = _find(rendered, "Service", "certplane-est")
    assert _selects(service["spec"]["selector"], gateway["spec"]["template"]["metadata"]["labels"])
    [port] = service["spec"]["ports"]
    assert port["port"] == settings.est_port and port["protocol"] == "TCP"
    assert _container_port(container, port["targetPort"]) == settings.est_port
    [ingress] = _of_kind(rendered, "Ingress")
    backends = {path["backend"]["service"]["name"] for rule in ingress["spec"]["rules"]
                for path in rule["http"]["paths"]}
    assert "certplane-est" not in backends


def test_public_base_url_names_the_ingress_host(rendered):
    [ingress] = _of_kind(rendered, "Ingress")
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert {h for tls in ingress["spec"].get("tls", []) for h in tls["hosts"]} == hosts
    base_url = _find(rendered, "ConfigMap", CONFIGMAP)["data"]["CERTPLANE_PUBLIC_BASE_URL"]
    assert urlsplit(base_url).hostname in hosts, "links and the OpenAPI document would name another host"


def test_every_resource_carries_the_certplane_label(rendered):
    for doc in rendered:
        assert doc["metadata"]["labels"].items() >= PARTS.items(), f"{doc['kind']}/{doc['metadata']['name']}"


def test_example_overlay_sets_namespace_image_and_host():
    docs = render(K8S / "overlays" / "example")
    assert {doc["metadata"].get("namespace") for doc in docs} == {"certplane"}
    images = {c["image"] for d in _of_kind(docs, "Deployment") for c in _containers(d)}
    assert images == {"registry.example.com/certplane:0.1.0"}
    [ingress] = _of_kind(docs, "Ingress")
    assert [rule["host"] for rule in ingress["spec"]["rules"]] == ["pki.example.net"]


def test_readme_scale_command_names_a_rendered_deployment():
    readme = (K8S / "README.md").read_text()
    assert "kubectl kustomize deploy/k8s/base" in readme
    names = {d["metadata"]["name"] for d in _of_kind(render(BASE), "Deployment")}
    scaled = re.findall(r"kubectl scale deployment/([\w-]+)", readme)
    assert scaled and set(scaled) <= names


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed: only the fallback renderer can run")
@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_fallback_renderer_agrees_with_kubectl(kustomization):
    def by_name(docs):
        return {(d["kind"], d["metadata"]["name"]): d for d in docs}

    assert by_name(render_in_python(K8S / kustomization)) == by_name(render_with_kubectl(K8S / kustomization))
