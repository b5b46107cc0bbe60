"""Checks and renderings for deploy/validate and scripts/kube-check.

    python checks.py resources  KUSTOMIZE_DIR
    python checks.py policy     KUSTOMIZE_DIR
    python checks.py promql     DASHBOARD_JSON OUT_RULES_YAML
    python checks.py metrics    METRICS_RS FILE...
    python checks.py podman     KUSTOMIZE_DIR IMAGE HOST_PORT SUFFIX OUT_YAML [MODE [DATABASE_URL]]
    python checks.py scrape     METRICS_TEXT METRICS_RS DASHBOARD_JSON
    python checks.py env        KUSTOMIZE_DIR          (the ConfigMap as KEY=VALUE lines)
    python checks.py probes     KUSTOMIZE_DIR          (liveness and readiness paths)
    python checks.py jobcmd     KUSTOMIZE_DIR          (the migration Job's command line)

Each check prints what it found and exits 1 (with the reasons) on a problem.
Needs PyYAML (the venv deploy/validate installs has it pinned).
"""

import copy
import json
import pathlib
import re
import sys

import yaml

# Exported metrics a fresh replica's /metrics cannot show yet: a histogram
# appears with its first sample (the first event delivered to a subscriber,
# the first reminder fired). Every other exported metric is there from the
# start, at 0.
ON_FIRST_SAMPLE = {"events_delivery_lag_seconds", "reminders_lateness_seconds"}
# Exported metrics that exist only for a configured event sink (the relay's
# EVENTS_*_URL settings; label `sink`): the manifests configure none, so a
# replica started from them has no such series.
ONLY_WITH_A_SINK_PREFIX = "events_sink_"
# Series Prometheus makes itself.
PROMETHEUS_METRICS = {"up"}


def fail(reasons):
    for reason in reasons:
        print(f"  problem: {reason}")
    sys.exit(1)


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def kustomization(directory):
    with open(pathlib.Path(directory) / "kustomization.yaml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def resources(directory):
    """Every resource of the kustomization, as (file, document)."""
    out = []
    for name in kustomization(directory).get("resources", []):
        for doc in load_docs(pathlib.Path(directory) / name):
            out.append((name, doc))
    return out


def find(directory, kind, name=None):
    for _, doc in resources(directory):
        if doc.get("kind") == kind and (name is None or doc["metadata"]["name"] == name):
            return doc
    raise SystemExit(f"no {kind} {name or ''} in {directory}")


def cmd_resources(directory):
    directory = pathlib.Path(directory)
    listed = kustomization(directory).get("resources", [])
    files = sorted(
        p.name for p in directory.iterdir()
        if p.suffix in (".yaml", ".yml") and p.name != "kustomization.yaml"
    )
    problems = []
    if len(listed) != len(set(listed)):
        problems.append(f"resources lists a file twice: {listed}")
    for missing in sorted(set(files) - set(listed)):
        problems.append(f"{missing} is not in kustomization.yaml's resources")
    for extra in sorted(set(listed) - set(files)):
        problems.append(f"kustomization.yaml lists {extra}, which does not exist")
    images = [i.get("name") for i in kustomization(directory).get("images", [])]
    used = {
        c["image"].split(":")[0]
        for _, doc in resources(directory)
        for c in pod_spec(doc).get("containers", [])
    } if not problems else set()
    for image in sorted(used - set(images)):
        problems.append(f"image {image} has no entry in kustomization.yaml's images")
    if problems:
        fail(problems)
    print(f"  {len(listed)} resources, all files listed: {', '.join(listed)}; images: {', '.join(images)}")


def pod_spec(doc):
    spec = doc.get("spec", {})
    if doc.get("kind") in ("Deployment", "Job", "StatefulSet", "DaemonSet"):
        return spec["template"]["spec"]
    return {}


def cmd_policy(directory):
    """The container contract the README promises, checked in the manifests."""
    problems = []
    config = find(directory, "ConfigMap")["data"]
    secret = find(directory, "Secret")
    deployment = find(directory, "Deployment")
    job = find(directory, "Job")
    expect = {"AUTO_MIGRATE": "false", "APP_ENV": "production", "LOG_FORMAT": "json", "HOST": "0.0.0.0"}
    for key, value in expect.items():
        if str(config.get(key)) != value:
            problems.append(f"ConfigMap {key}={config.get(key)!r}, expected {value!r}")
    if "DATABASE_URL" in config:
        problems.append("DATABASE_URL belongs in the Secret, not the ConfigMap")
    if "DATABASE_URL" not in {**secret.get("stringData", {}), **secret.get("data", {})}:
        problems.append("the Secret has no DATABASE_URL")

    for doc in (deployment, job):
        kind = doc["kind"]
        spec = pod_spec(doc)
        psc = spec.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True or psc.get("runAsUser") != 65532:
            problems.append(f"{kind}: pod must set runAsNonRoot: true and runAsUser: 65532")
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{kind}: seccompProfile must be RuntimeDefault")
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{kind}/{c['name']}: allowPrivilegeEscalation must be false")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{kind}/{c['name']}: readOnlyRootFilesystem must be true")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{kind}/{c['name']}: capabilities must drop ALL")
            if not c.get("resources", {}).get("requests"):
                problems.append(f"{kind}/{c['name']}: no resource requests")
            refs = [e for e in c.get("env", []) if e["name"] == "DATABASE_URL"]
            if not refs or "secretKeyRef" not in refs[0].get("valueFrom", {}):
                problems.append(f"{kind}/{c['name']}: DATABASE_URL must come from the Secret")
    if job["spec"].get("backoffLimit") is None or job["spec"].get("ttlSecondsAfterFinished") is None:
        problems.append("Job: set backoffLimit and ttlSecondsAfterFinished")
    if job["spec"]["template"]["spec"]["containers"][0].get("args") != ["up"]:
        problems.append("Job: must run `migration up`")

    spec = pod_spec(deployment)
    api = spec["containers"][0]
    if api["readinessProbe"]["httpGet"]["path"] != "/readyz":
        problems.append("readiness must be /readyz")
    if api["livenessProbe"]["httpGet"]["path"] != "/healthz":
        problems.append("liveness must be /healthz")
    pause = api.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    grace = float(config.get("SHUTDOWN_GRACE_SECS", 20))
    period = spec.get("terminationGracePeriodSeconds", 30)
    if not pause:
        problems.append("the api needs a preStop sleep (the image has no shell for an exec hook)")
    if period <= pause + grace:
        problems.append(
            f"terminationGracePeriodSeconds {period} must be above preStop {pause} s"
            f" + SHUTDOWN_GRACE_SECS {grace:g} s"
        )
    if not spec.get("topologySpreadConstraints"):
        problems.append("the Deployment has no topology spread")
    if deployment["spec"].get("replicas") != 3:
        problems.append("the Deployment must ask for 3 replicas")
    for _, doc in resources(directory):
        labels = doc["metadata"].get("labels", {})
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/component", "app.kubernetes.io/part-of"):
            if key not in labels:
                problems.append(f"{doc['kind']}/{doc['metadata']['name']}: label {key} missing")
    if problems:
        fail(problems)
    print(
        f"  shutdown: preStop {pause} s + SHUTDOWN_GRACE_SECS {grace:g} s"
        f" < terminationGracePeriodSeconds {period} s; security contexts, probes, labels as required"
    )


# Grafana variables, replaced by values that keep the PromQL valid.
GRAFANA_VARS = [
    (re.compile(r"\$__rate_interval|\$__interval|\$__range|\$\{__rate_interval\}"), "5m"),
    (re.compile(r"\$\{?job\}?"), "todo-graphql-api"),
    (re.compile(r"\$\{?instance(:[a-z]+)?\}?"), ".*"),
]


def dashboard_exprs(dashboard):
    """(panel title, expr) for every query of every panel, rows included."""
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                if t.get("expr"):
                    out.append((p.get("title", "?"), t["expr"]))
            walk(p.get("panels", []))

    walk(dashboard.get("panels", []))
    for var in dashboard.get("templating", {}).get("list", []):
        query = var.get("query")
        query = query.get("query") if isinstance(query, dict) else query
        if var.get("type") == "query" and query:
            m = re.fullmatch(r"label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)", query.strip())
            if not m:
                raise SystemExit(f"variable {var['name']}: not label_values(selector, label): {query}")
            out.append((f"variable {var['name']}", m.group(1)))
    return out


def concrete(expr):
    for pattern, value in GRAFANA_VARS:
        expr = pattern.sub(value, expr)
    if "$" in expr:
        raise SystemExit(f"unknown Grafana variable left in: {expr}")
    return expr


def cmd_promql(dashboard_path, out_path):
    with open(dashboard_path, encoding="utf-8") as f:
        dashboard = json.load(f)
    exprs = dashboard_exprs(dashboard)
    rules = [
        {"record": f"dashboard:expr_{i}:check", "expr": concrete(expr)}
        for i, (_, expr) in enumerate(exprs)
    ]
    with open(out_path, "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard-exprs", "rules": rules}]}, f, sort_keys=False)
    panels = sum(1 for p in walk_panels(dashboard.get("panels", [])) if p.get("targets"))
    print(f"  {len(exprs)} PromQL expressions ({panels} panels, variables included) written to {out_path}")


def walk_panels(panels):
    for p in panels:
        yield p
        yield from walk_panels(p.get("panels", []))


def exported_metrics(metrics_rs):
    text = pathlib.Path(metrics_rs).read_text(encoding="utf-8")
    return set(re.findall(r'pub(?:\(crate\))? const [A-Z_]+: &str = "([a-z_:][a-z0-9_:]*)";', text)) - {"other"}


def names_in(expr):
    names = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", concrete(expr)))
    return {re.sub(r"_(bucket|sum|count)$", "", n) if n.endswith(("_bucket", "_sum", "_count")) else n for n in names}


def cmd_metrics(metrics_rs, *files):
    exported = exported_metrics(metrics_rs)
    known = exported | PROMETHEUS_METRICS
    problems, used = [], set()
    for path in files:
        if path.endswith(".json"):
            with open(path, encoding="utf-8") as f:
                exprs = dashboard_exprs(json.load(f))
        else:
            exprs = [
                (rule.get("alert") or rule.get("record"), rule["expr"])
                for doc in load_docs(path)
                for group in doc["groups"]
                for rule in group["rules"]
            ]
        for where, expr in exprs:
            for name in names_in(expr):
                used.add(name)
                if name not in known:
                    problems.append(f"{path}: {where}: {name} is not a metric the api exports")
    # A metric added later gets a panel or an alert, or nobody sees it.
    for name in sorted(exported - used):
        problems.append(f"{name} is exported by {metrics_rs} but on no panel or alert")
    if problems:
        fail(problems)
    print(f"  every metric name used is one of the {len(exported)} in {metrics_rs} or `up`,")
    print("  and every one of them is on a panel or in an alert")


def cmd_env(directory):
    for key, value in find(directory, "ConfigMap")["data"].items():
        print(f"{key}={value}")


def cmd_jobcmd(directory):
    c = pod_spec(find(directory, "Job"))["containers"][0]
    print(" ".join(c["command"] + c.get("args", [])))


def cmd_probes(directory):
    api = pod_spec(find(directory, "Deployment"))["containers"][0]
    print(api["livenessProbe"]["httpGet"]["path"], api["readinessProbe"]["httpGet"]["path"])


def cmd_podman(directory, image, host_port, suffix, out_path, secret_mode="podman-secret", database_url=""):
    """The ConfigMap and Deployment as `podman kube play` (4.3) takes them.

    Changes, and only these (deploy/README.md says why):
    - names get SUFFIX, volumes too (podman makes an emptyDir a named
      volume, shared by every pod that uses the same name), so runs can
      go side by side and `podman kube down` removes what play made;
    - podman's local image name, IfNotPresent, one replica, a hostPort;
    - no livenessProbe: podman turns it into a `CMD-SHELL curl ...
      localhost:0` healthcheck (no /bin/sh or curl in the image, named
      port unresolved) and stops the container after three failures;
      the caller polls the probe paths itself.
    The preStop `sleep` stays: podman 4.3 accepts it and ignores it.
    DATABASE_URL, by SECRET_MODE (podman 4.3 cannot read a Secret object):
      podman-secret  keep the secretKeyRef; the caller creates the podman
                     secret todo-graphql-db-SUFFIX as {"DATABASE_URL": base64}
      secret-doc     the Secret object in the same file (fails on 4.3)
      env            DATABASE_URL as a plain value
    """
    config = copy.deepcopy(find(directory, "ConfigMap"))
    secret = copy.deepcopy(find(directory, "Secret"))
    deployment = copy.deepcopy(find(directory, "Deployment"))
    config["metadata"]["name"] += f"-{suffix}"
    secret["metadata"]["name"] += f"-{suffix}"
    deployment["metadata"]["name"] += f"-{suffix}"
    deployment["spec"]["replicas"] = 1
    spec = pod_spec(deployment)
    api = spec["containers"][0]
    api["image"] = image
    api["imagePullPolicy"] = "IfNotPresent"
    api["ports"][0]["hostPort"] = int(host_port)
    api.pop("livenessProbe", None)
    for volume in spec.get("volumes", []):
        volume["name"] += f"-{suffix}"
    for mount in api.get("volumeMounts", []):
        mount["name"] += f"-{suffix}"
    for source in api.get("envFrom", []):
        source["configMapRef"]["name"] += f"-{suffix}"
    for e in api["env"]:
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            ref["name"] += f"-{suffix}"
    docs = [config]
    if secret_mode == "secret-doc":
        secret["stringData"]["DATABASE_URL"] = database_url
        docs.append(secret)
    elif secret_mode == "env":
        api["env"] = [
            {"name": e["name"], "value": database_url} if e["name"] == "DATABASE_URL" else e
            for e in api["env"]
        ]
    elif secret_mode != "podman-secret":
        raise SystemExit(f"unknown secret mode {secret_mode}")
    docs.append(deployment)
    with open(out_path, "w", encoding="utf-8") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)
    print(f"  wrote {out_path}: {', '.join(d['kind'] for d in docs)} (DATABASE_URL: {secret_mode})")


def cmd_scrape(metrics_text, metrics_rs, dashboard_path):
    """Every exported metric the dashboard shows is in a real /metrics answer."""
    with open(metrics_text, encoding="utf-8") as f:
        text = f.read()
    present = set(re.findall(r"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) ", text, re.M))
    with open(dashboard_path, encoding="utf-8") as f:
        shown = {n for _, e in dashboard_exprs(json.load(f)) for n in names_in(e)}
    exported = shown & exported_metrics(metrics_rs)
    with_a_sink = {n for n in exported if n.startswith(ONLY_WITH_A_SINK_PREFIX)}
    wanted = sorted(exported - ON_FIRST_SAMPLE - with_a_sink)
    missing = [n for n in wanted if n not in present]
    # Where a sink is configured, its series must be there from the start.
    missing += [n for n in sorted(with_a_sink) if n not in present and any(m.startswith(ONLY_WITH_A_SINK_PREFIX) for m in present)]
    if missing:
        fail([f"{n} is on the dashboard but not in /metrics" for n in missing])
    print(f"  /metrics has all {len(wanted)} exported metrics the dashboard shows")
    print(f"  (not counted, they appear with their first sample: {', '.join(sorted(ON_FIRST_SAMPLE))};")
    print(f"  only with an event sink configured: {', '.join(sorted(with_a_sink)) or 'none'})")


COMMANDS = {
    "resources": cmd_resources,
    "policy": cmd_policy,
    "promql": cmd_promql,
    "metrics": cmd_metrics,
    "env": cmd_env,
    "probes": cmd_probes,
    "jobcmd": cmd_jobcmd,
    "podman": cmd_podman,
    "scrape": cmd_scrape,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(__doc__)
        sys.exit(2)
    COMMANDS[sys.argv[1]](*sys.argv[2:])
