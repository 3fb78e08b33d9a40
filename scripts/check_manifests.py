#!/usr/bin/env python3
"""Checks what deploy/ holds, offline: Kubernetes manifests against the
Kubernetes schemas of a pinned version (kubernetes-validate, strict: no
unknown fields), the Knative Service against the models generated from
Knative Serving's CRD schema (cloudcoil's knative-serving models; a field
the schema does not know fails too), and what the docs promise of them
(probes, grace period, scrape annotations). Each check is also run on a
broken copy, which must fail: a validator that accepts anything is caught.

  scripts/check_manifests.py KUBERNETES_VERSION KUBELESS_CONFIG_JSON
Run by scripts/check-manifests, which sets up the validators.
"""
import copy
import json
import pathlib
import sys

import kubernetes_validate
import yaml
from cloudcoil.models.knative_serving.serving.v1 import Service as KnativeService

ROOT = pathlib.Path(__file__).resolve().parent.parent
VERSION = sys.argv[1]
failures = []


def check(name, ok, detail=""):
    print(("ok    " if ok else "FAIL  ") + name + (": " + detail if detail and not ok else ""))
    if not ok:
        failures.append(name)


def kubernetes_errors(doc):
    try:
        kubernetes_validate.validate(doc, VERSION, strict=True)
        return None
    except Exception as error:  # noqa: BLE001 - any validation error is the answer
        return str(error).splitlines()[0]


def knative_errors(doc):
    try:
        service = KnativeService.model_validate(doc)
    except Exception as error:  # noqa: BLE001
        return str(error).splitlines()[0]
    # The models ignore fields they do not know: compare the round trip.
    back = service.model_dump(by_alias=True, exclude_unset=True, mode="json")
    if back != doc:
        return "fields the Knative schema does not know (round trip differs): %s" % json.dumps(doc, sort_keys=True)[:200]
    return None


def container(doc):
    return doc["spec"]["template"]["spec"]["containers"][0]


# Plain Kubernetes.
for path in sorted((ROOT / "deploy/kubernetes").glob("*.yaml")):
    for doc in yaml.safe_load_all(path.read_text()):
        error = kubernetes_errors(doc)
        check("%s: %s %s valid for Kubernetes %s" % (path.name, doc["kind"], doc["metadata"]["name"], VERSION), error is None, error)
        if doc["kind"] == "Deployment":
            pod = doc["spec"]["template"]
            main = container(doc)
            annotations = pod["metadata"].get("annotations", {})
            check("%s: Prometheus scrape annotations" % path.name,
                  annotations.get("prometheus.io/scrape") == "true" and annotations.get("prometheus.io/path") == "/metrics")
            check("%s: readiness and liveness probes on /healthz" % path.name,
                  main["readinessProbe"]["httpGet"]["path"] == "/healthz" and main["livenessProbe"]["httpGet"]["path"] == "/healthz")
            env = {item["name"]: item["value"] for item in main.get("env", [])}
            needed = int(env.get("PROXY_DRAIN_DELAY", "3")) + int(env.get("SHUTDOWN_TIMEOUT", "10")) + 10
            check("%s: grace period covers drain, shutdown and stop (%d s)" % (path.name, needed),
                  pod["spec"]["terminationGracePeriodSeconds"] >= needed)
            check("%s: preStop hook" % path.name, "preStop" in main.get("lifecycle", {}))
            broken = copy.deepcopy(doc)
            broken["spec"]["replicas"] = "two"
            check("%s: a broken copy is rejected" % path.name, kubernetes_errors(broken) is not None)
            unknown = copy.deepcopy(doc)
            container(unknown)["readinessProb"] = container(unknown).pop("readinessProbe")
            check("%s: a misspelt field is rejected" % path.name, kubernetes_errors(unknown) is not None)

# The Kubeless runtime ConfigMap made by deploy/kubeless/runtime-images.jsonnet.
config = json.loads(pathlib.Path(sys.argv[2]).read_text())
error = kubernetes_errors(config)
check("kubeless-config ConfigMap valid for Kubernetes %s" % VERSION, error is None, error)
runtimes = json.loads(config["data"]["runtime-images"])
check("kubeless-config lists ruby, php, node, python", [r["ID"] for r in runtimes] == ["ruby", "php", "node", "python"])
check("kubeless-config: every runtime has a runtime-phase image",
      all(image["phase"] == "runtime" and image["image"] for r in runtimes for v in r["versions"] for image in v["images"]))

# Knative.
for path in sorted((ROOT / "deploy/knative").glob("*.yaml")):
    doc = yaml.safe_load(path.read_text())
    error = knative_errors(doc)
    check("%s: valid for Knative Serving's Service schema" % path.name, error is None, error)
    main = container(doc)
    check("%s: FUNC_TIMEOUT within timeoutSeconds" % path.name,
          int({e["name"]: e["value"] for e in main["env"]}["FUNC_TIMEOUT"]) <= doc["spec"]["template"]["spec"]["timeoutSeconds"])
    broken = copy.deepcopy(doc)
    broken["spec"]["template"]["spec"]["timeoutSeconds"] = "soon"
    check("%s: a broken copy is rejected" % path.name, knative_errors(broken) is not None)
    unknown = copy.deepcopy(doc)
    container(unknown)["portz"] = container(unknown).pop("ports")
    check("%s: a misspelt field is rejected" % path.name, knative_errors(unknown) is not None)

if failures:
    print("manifests: FAILED: " + ", ".join(failures))
    sys.exit(1)
print("manifests: all checks passed")
