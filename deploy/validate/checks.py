#!/usr/bin/env python3
"""Static checks of what users plug in, run by deploy/validate.sh (and partly by deploy/e2e.sh).

  checks.py alerts  ROOT EXPOSITION   alert rules: annotations, runbooks, tests, metric names
  checks.py kube    ROOT OUTDIR       Deployment hardening, kustomization, PrometheusRule == alerts.yml;
                                      writes the ConfigMap's config.yaml to OUTDIR for `config check`
  checks.py statefulset ROOT RENDERED OUTDIR  the sharded variant (kubectl kustomize output): N in one
                                      place, headless Service scraped once per replica, pod spec ==
                                      the Deployment's; writes its core objects to OUTDIR
  checks.py dashboards ROOT EXPOSITION  Grafana dashboards: datasource variable, panels, units, metrics
  checks.py queries DASHBOARD_JSON VAR=VALUE...   prints every panel query, variables substituted (JSON)
  checks.py large-fleet-tests ROOT OUTDIR   writes the alert rule tests as large-fleet mode would feed
                                      them (origin_problem only while active) to OUTDIR, for promtool

EXPOSITION is a file with a live scrape of the exporter's /metrics. Each check prints what it
checked and exits 1 with every problem found.
"""

import json
import re
import sys
from pathlib import Path

import yaml

RUNBOOK_BASE = "https://github.com/origin-exporter/origin_exporter#"
CAUSES = [
    "dns_resolution_failed", "dns_all_nameservers_down", "dns_nameserver_down", "dns_lame_delegation",
    "dns_soa_serial_mismatch", "dns_delegation_mismatch", "port_unreachable", "tls_handshake_failed",
    "tls_protocol_mismatch", "tls_cipher_mismatch", "cert_hostname_mismatch", "cert_expired",
    "cert_not_yet_valid", "cert_self_signed", "cert_chain_incomplete", "cert_untrusted", "cert_chain_order",
    "cert_expiring_soon", "http_error_status", "http_timeout",
    "tls_client_certificate_required", "tls_client_certificate_rejected",
    "cdn_client_certificate_expired", "cdn_client_certificate_expiring_soon", "http_keepalive_race",
    "edge_lambda_error", "edge_function_error", "edge_unexplained_error",
]
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
DASHBOARD_UIDS = {"origin-fleet.json": "origin-exporter-fleet", "origin-detail.json": "origin-exporter-origin"}

PROMQL_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
    "offset", "atan2", "inf", "nan", "Inf", "NaN",
}


class Problems:
    def __init__(self, what):
        self.what = what
        self.items = []
        self.notes = []

    def add(self, msg):
        self.items.append(msg)

    def note(self, msg):
        self.notes.append(msg)

    def finish(self, summary):
        for n in self.notes:
            print(f"  note: {n}")
        if self.items:
            for p in self.items:
                print(f"FAIL {self.what}: {p}", file=sys.stderr)
            sys.exit(1)
        print(f"ok: {self.what}: {summary}")


def metric_names(expr):
    """Metric names used in a PromQL expression (without Grafana variables)."""
    s = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)
    names = set()
    # {__name__="x"} selectors
    for m in re.finditer(r'__name__\s*=\s*"([^"]+)"', expr):
        names.add(m.group(1))
    s = re.sub(r"\{[^}]*\}", "", s)
    s = re.sub(r"\[[^\]]*\]", "", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    for m in re.finditer(r"(?<![\w.:$])([a-zA-Z_:][\w:]*)\s*(\()?", s):
        word, call = m.group(1), m.group(2)
        if call or word in PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def exposition_names(path):
    names = set()
    for line in Path(path).read_text().splitlines():
        if line.startswith("# TYPE "):
            parts = line.split()
            name, typ = parts[2], parts[3]
            names.add(name)
            if typ == "counter" and not name.endswith("_total"):
                names.add(name + "_total")
        elif line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, maxsplit=1)[0])
    return names


def spec_names(root):
    path = root / "deploy/validate/spec-metrics.txt"
    return {l.strip() for l in path.read_text().splitlines() if l.strip() and not l.startswith("#")}


def check_names(problems, where, expr, live, spec, allowed_extra=()):
    waiting = set()
    for name in sorted(metric_names(expr)):
        if name in live or name in allowed_extra:
            continue
        if name in spec:
            waiting.add(name)
            continue
        problems.add(f"{where}: metric {name!r} is neither in the exporter's exposition nor in SPEC.md")
    return waiting


def template_queries(text):
    """PromQL in `query "..."` / `query (printf "..." ...)` of alert templates."""
    out = []
    for m in re.finditer(r'query\s*\(?\s*(?:printf\s+)?"((?:\\.|[^"\\])*)"', text):
        out.append(m.group(1).replace('\\"', '"').replace("%q", '"x"').replace("%s", "x"))
    return out


# ---------------------------------------------------------------------------------------------
def check_alerts(root, exposition):
    p = Problems("alerts")
    live, spec = exposition_names(exposition), spec_names(root)
    rules_doc = yaml.safe_load((root / "deploy/prometheus/alerts.yml").read_text())
    # Runbook anchors must be README headings: a cause (### name) or an alert (#### name).
    headings = {
        line.lstrip("#").strip().lower().replace(" ", "-")
        for line in (root / "README.md").read_text().splitlines()
        if line.startswith("#")
    }
    tests = []
    for f in sorted((root / "deploy/prometheus/tests").glob("*.yml")):
        tests.extend(yaml.safe_load(f.read_text()).get("tests", []))
    firing, quiet = set(), set()
    for t in tests:
        for a in t.get("alert_rule_test", []):
            (firing if a.get("exp_alerts") else quiet).add(a["alertname"])

    alerts, waiting = [], set()
    for group in rules_doc["groups"]:
        for r in group["rules"]:
            name = r.get("alert")
            if not name:
                continue
            alerts.append(name)
            where = f"{group['name']}/{name}"
            sev = r.get("labels", {}).get("severity")
            if sev not in ("critical", "warning"):
                p.add(f"{where}: labels.severity must be critical or warning, got {sev!r}")
            ann = r.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not str(ann.get(key, "")).strip():
                    p.add(f"{where}: annotation {key} missing")
            desc = ann.get("description", "")
            about_origin = group["name"].endswith(".origins")
            if about_origin:
                if "$labels.origin" not in desc:
                    p.add(f"{where}: description must name the origin ($labels.origin)")
                if "cause" not in desc:
                    p.add(f"{where}: description must name the cause")
            elif "$labels.instance" not in desc and "absent(" not in r["expr"]:
                p.add(f"{where}: description must name the exporter instance")
            url = ann.get("runbook_url", "")
            if not url.startswith(RUNBOOK_BASE):
                p.add(f"{where}: runbook_url must start with {RUNBOOK_BASE}")
            else:
                anchor = url[len(RUNBOOK_BASE):]
                if "{{" not in anchor and anchor not in headings:
                    p.add(f"{where}: runbook anchor #{anchor} is not a README heading")
            cause = r.get("labels", {}).get("cause")
            if cause and cause not in CAUSES:
                p.add(f"{where}: labels.cause {cause!r} is not a cause of SPEC.md")
            for m in re.finditer(r'cause="([^"]+)"', r["expr"]):
                if m.group(1) not in CAUSES:
                    p.add(f"{where}: expr uses unknown cause {m.group(1)!r}")
            waiting |= check_names(p, where, r["expr"], live, spec, allowed_extra={"up"})
            for q in template_queries("\n".join(str(v) for v in ann.values())):
                waiting |= check_names(p, f"{where} (template query)", q, live, spec)
            if name not in firing:
                p.add(f"{where}: no promtool test where it fires")
            if name not in quiet:
                p.add(f"{where}: no promtool test where it does not fire")
    if len(set(alerts)) != len(alerts):
        p.add("duplicate alert names")
    if waiting:
        p.note("rules use series that wait for the TLS/DNS/HTTP/edge checks (spec-metrics.txt): " + ", ".join(sorted(waiting)))
    p.finish(f"{len(alerts)} alerts have severity, summary, description, runbook; each tested firing and quiet")


# ---------------------------------------------------------------------------------------------
def load_docs(path):
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def check_kube(root, outdir):
    p = Problems("kubernetes")
    kdir = root / "deploy/kubernetes"
    kust = yaml.safe_load((kdir / "kustomization.yaml").read_text())
    listed = kust.get("resources", [])
    for res in listed:
        if not (kdir / res).is_file():
            p.add(f"kustomization.yaml lists {res}, which does not exist")
    for f in sorted(kdir.glob("*.yaml")):
        if f.name != "kustomization.yaml" and f.name not in listed:
            p.add(f"{f.name} is not listed in kustomization.yaml resources")
    objs = {}
    for res in listed:
        if (kdir / res).is_file():
            for d in load_docs(kdir / res):
                objs[d["kind"]] = d
    for kind in ("Deployment", "Service", "ConfigMap", "ServiceMonitor", "PrometheusRule"):
        if kind not in objs:
            p.add(f"no {kind} in the kustomization")

    dep = objs.get("Deployment")
    if dep:
        spec = dep["spec"]["template"]["spec"]
        psc = spec.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True:
            p.add("Deployment: pod securityContext.runAsNonRoot must be true")
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            p.add("Deployment: pod seccompProfile must be RuntimeDefault")
        for c in spec["containers"]:
            sc = c.get("securityContext", {})
            n = c["name"]
            if sc.get("readOnlyRootFilesystem") is not True:
                p.add(f"container {n}: readOnlyRootFilesystem must be true")
            if sc.get("allowPrivilegeEscalation") is not False:
                p.add(f"container {n}: allowPrivilegeEscalation must be false")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                p.add(f"container {n}: capabilities.drop must be [ALL]")
            if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/-/healthy":
                p.add(f"container {n}: livenessProbe must GET /-/healthy")
            if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/-/ready":
                p.add(f"container {n}: readinessProbe must GET /-/ready")
            res = c.get("resources", {})
            if not res.get("requests") or not res.get("limits", {}).get("memory"):
                p.add(f"container {n}: resources need requests and a memory limit")
            if "--config.file=/etc/origin_exporter/config.yaml" not in c.get("args", []):
                p.add(f"container {n}: args must include --config.file=/etc/origin_exporter/config.yaml")
            if not any(port.get("containerPort") == 19502 for port in c.get("ports", [])):
                p.add(f"container {n}: must expose port 19502")
    svc, sm = objs.get("Service"), objs.get("ServiceMonitor")
    if svc and sm:
        sel = sm["spec"]["selector"]["matchLabels"]
        if any(svc["metadata"].get("labels", {}).get(k) != v for k, v in sel.items()):
            p.add("ServiceMonitor selector does not match the Service's labels")
        ports = {pt.get("name") for pt in svc["spec"]["ports"]}
        for ep in sm["spec"]["endpoints"]:
            if ep.get("port") not in ports:
                p.add(f"ServiceMonitor endpoint port {ep.get('port')} is not a Service port name")
    if dep and svc:
        if any(dep["spec"]["template"]["metadata"]["labels"].get(k) != v for k, v in svc["spec"]["selector"].items()):
            p.add("Service selector does not match the Deployment's pod labels")
    pr = objs.get("PrometheusRule")
    if pr:
        alerts = yaml.safe_load((root / "deploy/prometheus/alerts.yml").read_text())
        if pr["spec"] != alerts:
            p.add("PrometheusRule spec differs from deploy/prometheus/alerts.yml (run deploy/validate/gen-prometheusrule.sh)")
    cm = objs.get("ConfigMap")
    if cm:
        cfg = cm.get("data", {}).get("config.yaml")
        if not cfg:
            p.add("ConfigMap has no data.config.yaml")
        else:
            Path(outdir, "configmap-config.yaml").write_text(cfg)
    p.finish(f"{len(listed)} resources listed; Deployment hardened; Service/ServiceMonitor wired; PrometheusRule == alerts.yml")


def check_statefulset(root, rendered, outdir):
    p = Problems("kubernetes-statefulset")
    docs = [d for d in yaml.safe_load_all(Path(rendered).read_text()) if d]
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    if "Deployment" in by_kind:
        p.add("the sharded variant still has a Deployment: every origin would be probed twice")
    for kind in ("StatefulSet", "Service", "ConfigMap", "ServiceMonitor", "PrometheusRule"):
        if len(by_kind.get(kind, [])) != 1:
            p.add(f"expected exactly one {kind}, found {len(by_kind.get(kind, []))}")
    sts = (by_kind.get("StatefulSet") or [None])[0]
    svc = (by_kind.get("Service") or [None])[0]
    sm = (by_kind.get("ServiceMonitor") or [None])[0]
    if sts:
        n = sts["spec"].get("replicas")
        if not isinstance(n, int) or n < 1:
            p.add(f"StatefulSet replicas must be a positive integer, got {n!r}")
        shard = [a for c in sts["spec"]["template"]["spec"]["containers"] for a in c.get("args", [])
                 if a.startswith("--shard")]
        if shard != [f"--shard=ordinal/{n}"]:
            p.add(f"args must hold --shard=ordinal/{n} (replicas copied by the replacement), got {shard}")
        if svc and sts["spec"].get("serviceName") != svc["metadata"]["name"]:
            p.add("StatefulSet serviceName must be the (headless) Service")
        if svc and any(sts["spec"]["template"]["metadata"]["labels"].get(k) != v
                       for k, v in svc["spec"]["selector"].items()):
            p.add("Service selector does not match the StatefulSet's pod labels")
        # The pod spec must not drift from the Deployment's: same hardening, probes, resources.
        dep = next(d for d in load_docs(root / "deploy/kubernetes/deployment.yaml") if d["kind"] == "Deployment")
        mine = json.loads(json.dumps(sts["spec"]["template"]["spec"]))
        for c in mine["containers"]:
            c["args"] = [a for a in c.get("args", []) if not a.startswith("--shard")]
        theirs = dep["spec"]["template"]["spec"]
        for c in theirs["containers"]:
            c["image"] = None
        for c in mine["containers"]:
            c["image"] = None
        if mine != theirs:
            p.add("the StatefulSet's pod spec differs from deploy/kubernetes/deployment.yaml beyond --shard")
    if svc and svc["spec"].get("clusterIP") != "None":
        p.add("the Service must be headless (clusterIP: None), the StatefulSet's governing Service")
    if svc and sm:
        sel = sm["spec"]["selector"]["matchLabels"]
        if any(svc["metadata"].get("labels", {}).get(k) != v for k, v in sel.items()):
            p.add("ServiceMonitor selector does not match the Service: the replicas would not be scraped")
    core = [d for d in docs if d["kind"] in ("StatefulSet", "Service", "ConfigMap")]
    Path(outdir, "statefulset-core.yaml").write_text(yaml.safe_dump_all(core))
    p.finish("no Deployment; StatefulSet replicas == --shard COUNT; headless Service selected by the "
             "ServiceMonitor; pod spec == the Deployment's")


# ---------------------------------------------------------------------------------------------
def panels_of(dash):
    out = []
    for panel in dash.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))  # collapsed rows
    return out


def substitute(expr, values):
    def rep(m):
        name = m.group(1) or m.group(2)
        return values.get(name, m.group(0))
    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", rep, expr)


def check_dashboards(root, exposition):
    p = Problems("dashboards")
    live, spec = exposition_names(exposition), spec_names(root)
    files = sorted((root / "dashboards").glob("*.json"))
    if {f.name for f in files} != set(DASHBOARD_UIDS):
        p.add(f"expected dashboards {sorted(DASHBOARD_UIDS)}, found {[f.name for f in files]}")
    total, waiting = 0, set()
    for f in files:
        where = f.name
        try:
            dash = json.loads(f.read_text())
        except json.JSONDecodeError as e:
            p.add(f"{where}: not JSON: {e}")
            continue
        if dash.get("id", "missing") is not None:
            p.add(f"{where}: \"id\" must be null")
        if dash.get("uid") != DASHBOARD_UIDS.get(f.name):
            p.add(f"{where}: uid must be {DASHBOARD_UIDS.get(f.name)!r}, got {dash.get('uid')!r}")
        if not dash.get("title") or not isinstance(dash.get("schemaVersion"), int):
            p.add(f"{where}: title and schemaVersion required")
        if "__inputs" in dash:
            p.add(f"{where}: __inputs breaks provisioning; use the datasource variable")
        variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
        ds = variables.get("datasource")
        if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
            p.add(f'{where}: needs a variable "datasource" of type datasource with query "prometheus"')
        for v in variables.values():
            if v.get("type") == "query":
                if v.get("datasource") != DATASOURCE:
                    p.add(f"{where}: variable {v.get('name')} must use datasource ${{datasource}}")
                q = v.get("query")
                qs = q.get("query") if isinstance(q, dict) else q
                m = re.match(r"label_values\((.*),\s*\w+\)$", qs or "")
                if not m:
                    p.add(f"{where}: variable {v.get('name')}: expected label_values(selector, label)")
                else:
                    waiting |= check_names(p, f"{where} variable {v.get('name')}", m.group(1), live, spec)
        if f.name == "origin-detail.json" and "origin" not in variables:
            p.add(f"{where}: needs a variable named origin")
        ids = set()
        for panel in panels_of(dash):
            pwhere = f"{where} panel {panel.get('id')} {panel.get('title')!r}"
            if panel.get("id") in ids or not isinstance(panel.get("id"), int):
                p.add(f"{pwhere}: panel ids must be unique integers")
            ids.add(panel.get("id"))
            if "gridPos" not in panel:
                p.add(f"{pwhere}: no gridPos")
            if panel.get("type") == "row":
                continue
            if panel.get("datasource") != DATASOURCE:
                p.add(f"{pwhere}: datasource must be {DATASOURCE}")
            if not panel.get("fieldConfig", {}).get("defaults", {}).get("unit"):
                p.add(f"{pwhere}: no unit")
            targets = panel.get("targets", [])
            if not targets:
                p.add(f"{pwhere}: no queries")
            for t in targets:
                total += 1
                expr = t.get("expr", "")
                if t.get("datasource", DATASOURCE) != DATASOURCE:
                    p.add(f"{pwhere} {t.get('refId')}: target datasource must be {DATASOURCE}")
                if not expr.strip() or not t.get("refId"):
                    p.add(f"{pwhere}: every target needs expr and refId")
                for m in re.finditer(r"\b(rate|irate|increase)\s*\([^\[]*\[([^\]]+)\]", expr):
                    if m.group(2) != "$__rate_interval":
                        p.add(f"{pwhere}: {m.group(1)}() must use [$__rate_interval], not [{m.group(2)}]")
                for var in re.findall(r"\$\{?(\w+)", expr):
                    if var not in variables and not var.startswith("__"):
                        p.add(f"{pwhere}: unknown variable ${var}")
                waiting |= check_names(p, pwhere, substitute(expr, {"job": ".*", "origin": "x"}), live, spec)
    if waiting:
        p.note("dashboards use series that wait for the TLS/DNS/HTTP/edge checks (spec-metrics.txt): " + ", ".join(sorted(waiting)))
    p.finish(f"{len(files)} dashboards, {total} queries: datasource variable, ${{datasource}} everywhere, units, metric names known")


def expand_values(notation):
    """promtool's series notation ('1 0x3 _ 0+1x2') as one token per sample."""
    out = []
    for token in notation.split():
        m = re.fullmatch(r"(_|stale|-?[0-9.e+]+?)(?:([+-][0-9.e]+)?x([0-9]+))?", token)
        if not m:
            raise ValueError(f"series notation {token!r}")
        start, step, times = m.group(1), m.group(2), m.group(3)
        if times is None:
            out.append(start)
        elif start in ("_", "stale") or step is None:
            out.extend([start] * (int(times) + 1))
        else:
            out.extend(str(float(start) + float(step) * i) for i in range(int(times) + 1))
    return out


def large_fleet_tests(root, outdir):
    """Large-fleet mode writes origin_problem only while the cause is active: the same alert tests
    must pass with every 0 sample of origin_problem missing (and all-0 series absent)."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for path in sorted((root / "deploy/prometheus/tests").glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        doc["rule_files"] = [str((path.parent / f).resolve()) for f in doc["rule_files"]]
        for test in doc["tests"]:
            kept = []
            for series in test.get("input_series", []):
                if series["series"].startswith("origin_problem{"):
                    samples = absent_while_zero(expand_values(series["values"]))
                    if all(v == "_" for v in samples):
                        continue
                    series = dict(series, values=" ".join(samples))
                kept.append(series)
            test["input_series"] = kept
        (out / path.name).write_text(yaml.safe_dump(doc, sort_keys=False))
        written += 1
    print(f"ok: {written} alert rule test files rewritten for large-fleet mode in {out}")


def absent_while_zero(samples):
    """A series the exporter stops writing: Prometheus marks it stale at the first scrape without
    it, then has no sample (promtool: 'stale', then '_')."""
    out, present = [], False
    for v in samples:
        if float_or(v) == 0:
            out.append("stale" if present else "_")
            present = False
        else:
            out.append(v)
            present = v not in ("_", "stale")
    return out


def float_or(v):
    try:
        return float(v)
    except ValueError:
        return None


def print_queries(path, assignments):
    values = dict(a.split("=", 1) for a in assignments)
    dash = json.loads(Path(path).read_text())
    out = []
    for panel in panels_of(dash):
        for t in panel.get("targets", []):
            out.append({
                "panel": panel.get("title"), "refId": t.get("refId"), "instant": bool(t.get("instant")),
                "expr": substitute(t["expr"], values), "names": sorted(metric_names(t["expr"])),
            })
    print(json.dumps(out))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "alerts":
        check_alerts(Path(args[0]), args[1])
    elif cmd == "kube":
        check_kube(Path(args[0]), args[1])
    elif cmd == "statefulset":
        check_statefulset(Path(args[0]), args[1], args[2])
    elif cmd == "dashboards":
        check_dashboards(Path(args[0]), args[1])
    elif cmd == "queries":
        print_queries(args[0], args[1:])
    elif cmd == "large-fleet-tests":
        large_fleet_tests(Path(args[0]), args[1])
    elif cmd == "names":
        print("\n".join(sorted(metric_names(args[0]))))
    else:
        sys.exit(f"unknown command {cmd}")
