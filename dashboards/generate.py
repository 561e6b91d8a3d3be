#!/usr/bin/env python3
"""Writes the Grafana dashboards of this folder. Edit here, then run:

    python3 dashboards/generate.py            # rewrite origin-fleet.json and origin-detail.json
    python3 dashboards/generate.py --check    # exit 1 if the JSON files are not up to date

The dashboards import (Dashboards > New > Import) and provision (a file provider pointing at this
folder) alike: no __inputs, a `datasource` variable of type datasource, every panel on
${datasource}, "id": null and a stable uid.
"""

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DS = {"type": "prometheus", "uid": "${datasource}"}
J = 'job=~"$job"'
O = 'job=~"$job",origin="$origin"'


class Board:
    def __init__(self):
        self.panels = []
        self.y = 0
        self.x = 0
        self.row_h = 0

    def next_id(self):
        return len(self.panels) + 1

    def row(self, title):
        self.newline()
        self.panels.append({
            "type": "row", "id": self.next_id(), "title": title, "collapsed": False, "panels": [],
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y},
        })
        self.y += 1

    def newline(self):
        if self.x:
            self.y += self.row_h
            self.x, self.row_h = 0, 0

    def add(self, panel, w, h):
        if self.x + w > 24:
            self.newline()
        panel["id"] = self.next_id()
        panel["gridPos"] = {"h": h, "w": w, "x": self.x, "y": self.y}
        self.panels.append(panel)
        self.x += w
        self.row_h = max(self.row_h, h)
        return panel


def target(expr, ref="A", legend=None, instant=False, table=False):
    t = {"datasource": DS, "refId": ref, "expr": expr, "range": not instant, "instant": instant}
    if legend:
        t["legendFormat"] = legend
    if table:
        t["format"] = "table"
    return t


def thresholds(*steps):
    out = [{"color": steps[0], "value": None}]
    for i in range(1, len(steps), 2):
        out.append({"color": steps[i + 1], "value": steps[i]})
    return {"mode": "absolute", "steps": out}


def mapping(values):
    """values: {raw: (text, color)}"""
    return [{"type": "value", "options": {str(k): {"text": t, "color": c, "index": i}
                                          for i, (k, (t, c)) in enumerate(values.items())}}]


READY = mapping({1: ("READY", "green"), 0: ("NOT READY", "red")})
YESNO = mapping({1: ("yes", "green"), 0: ("no", "red")})
ACTIVE = mapping({1: ("active", "red"), 0: ("ok", "green")})
AGREE = mapping({0: ("agree", "green"), 1: ("disagree", "orange")})
# The edge check's series exist only for origins with `edge:` configured; their panels stay empty
# for the others.


def panel(ptype, title, targets, unit, description="", decimals=None, th=None, mappings=None, options=None,
          custom=None, overrides=None, transformations=None, links=None):
    defaults = {"unit": unit}
    if decimals is not None:
        defaults["decimals"] = decimals
    defaults["thresholds"] = th or thresholds("green")
    defaults["color"] = {"mode": "thresholds"} if ptype in ("stat", "table", "bargauge", "state-timeline") \
        else {"mode": "palette-classic"}
    if mappings:
        defaults["mappings"] = mappings
    if custom:
        defaults["custom"] = custom
    if links:
        defaults["links"] = links
    p = {
        "type": ptype, "title": title, "description": description, "datasource": DS,
        "targets": targets, "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": options or {},
    }
    if transformations:
        p["transformations"] = transformations
    return p


def stat(title, expr, unit, description="", legend=None, th=None, mappings=None, text_mode="auto",
         color_mode="background", decimals=None):
    return panel("stat", title, [target(expr, legend=legend, instant=True)], unit, description, decimals, th,
                 mappings, {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                            "colorMode": color_mode, "graphMode": "none", "textMode": text_mode,
                            "justifyMode": "auto", "orientation": "auto"})


def timeseries(title, targets, unit, description="", decimals=None, stack=False, th=None, mappings=None,
               draw="line"):
    custom = {"drawStyle": draw, "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
              "spanNulls": False, "stacking": {"mode": "normal" if stack else "none", "group": "A"}}
    if draw == "line" and not stack:
        custom["lineInterpolation"] = "stepAfter"
    return panel("timeseries", title, targets, unit, description, decimals, th, mappings,
                 {"legend": {"displayMode": "table", "placement": "bottom", "showLegend": True, "calcs": ["lastNotNull"]},
                  "tooltip": {"mode": "multi", "sort": "desc"}}, custom)


def table(title, targets, unit, description="", hide=(), rename=None, order=None, merge=False, overrides=None,
          th=None, mappings=None, sort=None, links=None):
    exclude = {k: True for k in ("Time", "__name__", "job", "instance", *hide)}
    trans = []
    if merge:
        trans.append({"id": "merge", "options": {}})
    trans.append({"id": "organize", "options": {"excludeByName": exclude, "renameByName": rename or {},
                                                "indexByName": {k: i for i, k in enumerate(order or [])}}})
    opts = {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""}}
    if sort:
        opts["sortBy"] = [{"displayName": sort[0], "desc": sort[1]}]
    return panel("table", title, targets, unit, description, None, th, mappings, opts,
                 {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False},
                 overrides, trans, links)


def col(name, **props):
    """A field override: unit, decimals, mappings, thresholds, cell display."""
    out = []
    for k, v in props.items():
        if k == "cell":
            out.append({"id": "custom.cellOptions", "value": {"type": v}})
        else:
            out.append({"id": k, "value": v})
    return {"matcher": {"id": "byName", "options": name}, "properties": out}


def variables(origin=False):
    out = [
        {"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
         "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": [], "includeAll": False, "multi": False},
        {"name": "job", "label": "Job", "type": "query", "datasource": DS,
         "query": {"query": "label_values(origin_exporter_build_info, job)", "refId": "job"},
         "definition": "label_values(origin_exporter_build_info, job)",
         "current": {}, "hide": 0, "refresh": 2, "regex": "", "sort": 1, "options": [],
         "includeAll": True, "allValue": ".*", "multi": True},
    ]
    # Discovered origins carry distribution_id; `.*` also matches configured ones (no label).
    q = 'label_values(origin_cdn_ready{job=~"$job"}, distribution_id)'
    out.append({"name": "distribution_id", "label": "Distribution", "type": "query", "datasource": DS,
                "query": {"query": q, "refId": "distribution_id"}, "definition": q,
                "current": {}, "hide": 0, "refresh": 2, "regex": "", "sort": 1, "options": [],
                "includeAll": True, "allValue": ".*", "multi": True})
    if origin:
        q = 'label_values(origin_cdn_ready{job=~"$job",distribution_id=~"$distribution_id"}, origin)'
        out.append({"name": "origin", "label": "Origin", "type": "query", "datasource": DS,
                    "query": {"query": q, "refId": "origin"}, "definition": q,
                    "current": {}, "hide": 0, "refresh": 2, "regex": "", "sort": 1, "options": [],
                    "includeAll": False, "multi": False})
    return out


def dashboard(uid, title, description, board, origin_var, links):
    return {
        "id": None, "uid": uid, "title": title, "description": description,
        "tags": ["origin_exporter", "cdn"], "timezone": "browser", "editable": True,
        "graphTooltip": 1, "schemaVersion": 39, "version": 1, "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"}, "timepicker": {},
        "fiscalYearStartMonth": 0, "liveNow": False, "weekStart": "",
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True,
            "hide": True, "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard"}]},
        "links": links,
        "templating": {"list": variables(origin_var)},
        "panels": board.panels,
    }


DETAIL_LINK = "/d/origin-exporter-origin/origin-exporter-origin?${datasource:queryparam}&${job:queryparam}&var-origin=${__data.fields.origin}"


def fleet():
    b = Board()
    b.row("Verdict")
    b.add(stat("Origins CDN-ready", f"sum(origin_cdn_ready{{{J}}})", "none",
               "Origins where no critical cause is active: the CDN can fetch from them.", th=thresholds("green")), 4, 4)
    b.add(stat("Origins not ready", f"count(origin_cdn_ready{{{J}}} == 0) or vector(0)", "none",
               "Origins with at least one critical cause: the CDN answers 502 for them.",
               th=thresholds("green", 1, "red")), 4, 4)
    b.add(stat("Origins configured", f"sum(origin_exporter_origins{{{J}}})", "none",
               "Origins in the running configs.", th=thresholds("blue")), 4, 4)
    b.add(stat("Critical causes active", f'count(origin_problem{{{J},severity="critical"}} == 1) or vector(0)',
               "none", th=thresholds("green", 1, "red")), 4, 4)
    b.add(stat("Warnings active", f'count(origin_problem{{{J},severity="warning"}} == 1) or vector(0)', "none",
               th=thresholds("green", 1, "orange")), 4, 4)
    b.add(stat("Config reload", f"min(origin_exporter_config_last_reload_successful{{{J}}})", "none",
               "0 when an exporter rejected its last config and runs the previous one.",
               mappings=mapping({1: ("OK", "green"), 0: ("FAILED", "red")})), 4, 4)

    b.add(table("Active problems", [target(f"origin_problem{{{J}}} == 1", instant=True, table=True)], "none",
                "Every active cause by origin; click an origin for its drill-down.",
                hide=("Value",), order=["origin", "cause", "severity"], sort=("severity", False),
                overrides=[col("severity", mappings=mapping({"critical": ("critical", "red"), "warning": ("warning", "orange")}),
                               cell="color-text"),
                           col("origin", links=[{"title": "Origin drill-down", "url": DETAIL_LINK}])]), 12, 9)
    b.add(timeseries("Origins not ready and active causes", [
        target(f"count(origin_cdn_ready{{{J}}} == 0) or vector(0)", "A", "origins not ready"),
        target(f"count by (cause) (origin_problem{{{J}}} == 1)", "B", "{{cause}}"),
    ], "none", "Not-ready origins, and how many origins each cause affects.", decimals=0), 12, 9)

    b.row("Certificates")
    b.add(table("Leaf certificates by days remaining", [
        target(f"origin_tls_cert_days_remaining{{{J}}}", instant=True, table=True)], "d",
        "Days until each origin's leaf certificate expires (negative: expired). Soonest first.",
        rename={"Value": "days remaining"}, order=["origin", "days remaining"], sort=("days remaining", False),
        th=thresholds("red", 0, "orange", 7, "yellow", 21, "green"),
        overrides=[col("days remaining", cell="color-background", decimals=1),
                   col("origin", links=[{"title": "Origin drill-down", "url": DETAIL_LINK}])]), 12, 9)
    b.add(panel("bargauge", "Certificates expiring soonest (all served certificates)", [
        target(f"bottomk(10, (min by (origin, subject_cn) (origin_tls_cert_not_after_timestamp_seconds{{{J}}}) - time()) / 86400)",
               legend="{{origin}}: {{subject_cn}}", instant=True)], "d",
        "Leaf and intermediates: an expiring intermediate breaks the chain as surely as the leaf.", 1,
        thresholds("red", 0, "orange", 7, "yellow", 21, "green"), None,
        {"displayMode": "basic", "orientation": "horizontal", "showUnfilled": True,
         "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}), 12, 9)

    b.row("TLS")
    pie_opts = {"pieType": "donut", "legend": {"displayMode": "table", "placement": "right", "showLegend": True,
                                               "values": ["value"]},
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}
    b.add(panel("piechart", "Negotiated TLS versions", [
        target(f"count by (version) (origin_tls_version_info{{{J}}})", legend="{{version}}", instant=True)],
        "none", "The version each origin negotiates with the CDN's own ClientHello.", options=pie_opts), 8, 8)
    b.add(panel("piechart", "Negotiated cipher suites", [
        target(f"count by (cipher) (origin_tls_cipher_info{{{J}}})", legend="{{cipher}}", instant=True)],
        "none", "The suite each origin picks from what the CDN offers.", options=pie_opts), 8, 8)
    b.add(panel("bargauge", "Origins accepting each protocol version", [
        target(f"sum by (version) (origin_tls_protocol_supported{{{J}}})", legend="{{version}}", instant=True)],
        "none", "Probed one version at a time. An origin accepting only TLSv1.3 fails CloudFront.", 0,
        thresholds("blue"), None,
        {"displayMode": "basic", "orientation": "horizontal", "showUnfilled": True,
         "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}), 8, 8)

    b.row("DNS")
    b.add(table("Nameserver health", [
        target(f"min by (zone, nameserver, address) (origin_dns_nameserver_up{{{J}}})", "A", instant=True, table=True),
        target(f"min by (zone, nameserver, address) (origin_dns_nameserver_authoritative{{{J}}})", "B", instant=True, table=True),
        target(f"max by (zone, nameserver, address) (origin_dns_nameserver_response_seconds{{{J}}})", "C", instant=True, table=True),
        target(f"max by (zone, nameserver, address) (origin_dns_soa_serial{{{J}}})", "D", instant=True, table=True),
    ], "none", "Each authoritative server of the origins' zones: answering, with authority, how fast, its SOA serial.",
        merge=True, rename={"Value #A": "up", "Value #B": "authoritative", "Value #C": "response", "Value #D": "SOA serial"},
        order=["zone", "nameserver", "address", "up", "authoritative", "response", "SOA serial"],
        overrides=[col("up", mappings=YESNO, cell="color-background"),
                   col("authoritative", mappings=YESNO, cell="color-background"),
                   col("response", unit="s"), col("SOA serial", decimals=0)]), 14, 9)
    b.add(timeseries("Nameserver response time", [
        target(f"max by (nameserver) (origin_dns_nameserver_response_seconds{{{J}}})", legend="{{nameserver}}")], "s"), 10, 9)
    b.add(timeseries("Resolution time (recursive)", [
        target(f"max(origin_dns_resolve_duration_seconds{{{J}}})", "A", "max"),
        target(f"quantile(0.5, origin_dns_resolve_duration_seconds{{{J}}})", "B", "median")], "s"), 8, 8)
    b.add(stat("Origins not resolving", f"count(origin_dns_resolve_success{{{J}}} == 0) or vector(0)", "none",
               th=thresholds("green", 1, "red")), 4, 8)
    b.add(stat("Nameservers not answering",
               f"count(min by (nameserver, address) (origin_dns_nameserver_up{{{J}}}) == 0) or vector(0)", "none",
               th=thresholds("green", 1, "orange")), 4, 8)
    b.add(stat("Lame nameservers",
               f"count(min by (nameserver, address) (origin_dns_nameserver_authoritative{{{J}}}) == 0) or vector(0)",
               "none", th=thresholds("green", 1, "orange")), 4, 8)
    b.add(stat("Addresses per origin (median)", f"quantile(0.5, origin_dns_addresses{{{J}}})", "none",
               th=thresholds("blue"), decimals=0), 4, 8)

    b.row("Probes")
    b.add(timeseries("Probe duration by check (max over origins)", [
        target(f"max by (check) (origin_probe_duration_seconds{{{J}}})", "A", "max {{check}}"),
        target(f"quantile by (check) (0.5, origin_probe_duration_seconds{{{J}}})", "B", "median {{check}}")],
        "s"), 12, 8)
    b.add(timeseries("Checks run per second by result", [
        target(f"sum by (check, result) (rate(origin_exporter_probes_total{{{J}}}[$__rate_interval]))",
               legend="{{check}} {{result}}")], "ops", stack=True), 12, 8)
    b.add(table("Slowest origins (whole cycle)", [
        target(f"topk(10, sum by (origin) (origin_probe_duration_seconds{{{J}}}))", instant=True, table=True)], "s",
        rename={"Value": "duration"}, order=["origin", "duration"], sort=("duration", True),
        overrides=[col("origin", links=[{"title": "Origin drill-down", "url": DETAIL_LINK}])]), 12, 8)
    b.add(timeseries("Seconds since the last probe (max over origins)", [
        target(f"max(time() - origin_last_probe_timestamp_seconds{{{J}}})", "A", "since last probe"),
        target(f"max(origin_probe_interval_seconds{{{J}}})", "B", "interval")], "s",
        "Above twice the interval, OriginProbesLate fires: the exporter cannot keep up."), 12, 8)

    b.row("Edge (origins with an edge check)")
    b.add(table("Edge answers now", [
        target(f"origin_edge_result_info{{{J}}} == 1", "A", instant=True, table=True),
        target(f"origin_edge_status_code{{{J}}}", "B", instant=True, table=True),
    ], "none", "What the CDN answers for each origin's edge URL: status and X-Cache class. Errors first.",
        hide=("Value #A",), merge=True, rename={"Value #B": "status", "result": "X-Cache"},
        order=["origin", "status", "X-Cache"], sort=("status", True),
        overrides=[col("status", decimals=0, cell="color-text", thresholds=thresholds("green", 500, "red")),
                   col("origin", links=[{"title": "Origin drill-down", "url": DETAIL_LINK}])]), 12, 8)
    b.add(timeseries("Origins by X-Cache class", [
        target(f"count by (result) (origin_edge_result_info{{{J}}} == 1)", legend="{{result}}")], "none",
        "How many origins' edge URLs the CDN answers with each X-Cache class.", decimals=0, stack=True), 12, 8)
    return dashboard("origin-exporter-fleet", "origin_exporter / Fleet overview",
                     "Which CDN origins would answer 502 Bad Gateway now, and why.", b, False,
                     [{"title": "Origin drill-down", "type": "link", "url": "/d/origin-exporter-origin/origin-exporter-origin",
                       "keepTime": True, "includeVars": True, "icon": "dashboard"}])


def detail():
    b = Board()
    b.row("Verdict")
    b.add(stat("CDN-ready", f"origin_cdn_ready{{{O}}}", "none", "READY: no critical cause active.",
               mappings=READY), 4, 5)
    b.add(stat("Active causes", f"count(origin_problem{{{O}}} == 1) or vector(0)", "none",
               th=thresholds("green", 1, "red")), 4, 5)
    b.add(stat("Since last probe", f"time() - origin_last_probe_timestamp_seconds{{{O}}}", "s",
               th=thresholds("green", 120, "orange"), color_mode="value"), 4, 5)
    b.add(stat("Leaf certificate", f"origin_tls_cert_days_remaining{{{O}}}", "d",
               "Days until the leaf certificate expires.", th=thresholds("red", 0, "orange", 7, "yellow", 21, "green"),
               decimals=1), 4, 5)
    b.add(stat("HTTP status", f"origin_http_status_code{{{O}}}", "none",
               th=thresholds("green", 500, "red"), color_mode="value", decimals=0), 4, 5)
    b.add(stat("Checks", f"origin_probe_success{{{O}}}", "none", "1: the check found nothing critical.",
               legend="{{check}}", mappings=YESNO, text_mode="value_and_name"), 4, 5)

    b.add(table("Active causes now", [target(f"origin_problem{{{O}}} == 1", instant=True, table=True)], "none",
                hide=("Value", "origin"), order=["cause", "severity"],
                overrides=[col("severity", mappings=mapping({"critical": ("critical", "red"), "warning": ("warning", "orange")}),
                               cell="color-text")]), 8, 8)
    b.add(panel("state-timeline", "Causes over time", [
        target(f"origin_problem{{{O}}}", legend="{{cause}}")], "none",
        "Every cause this origin's checks can detect; red while active.", 0, thresholds("green", 1, "red"), ACTIVE,
        {"showValue": "never", "mergeValues": True, "rowHeight": 0.8, "alignValue": "left",
         "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False}}), 16, 8)
    b.add(timeseries("CDN-ready and checks", [
        target(f"origin_cdn_ready{{{O}}}", "A", "cdn_ready"),
        target(f"origin_probe_success{{{O}}}", "B", "{{check}} ok")], "none", decimals=0), 12, 7)
    b.add(timeseries("Check durations", [
        target(f"origin_probe_duration_seconds{{{O}}}", legend="{{check}}")], "s"), 12, 7)

    b.row("TLS and certificate chain")
    b.add(table("Served certificate chain", [
        target(f"origin_tls_cert_not_before_timestamp_seconds{{{O}}} * 1000", "A", instant=True, table=True),
        target(f"origin_tls_cert_not_after_timestamp_seconds{{{O}}} * 1000", "B", instant=True, table=True),
        target(f"(origin_tls_cert_not_after_timestamp_seconds{{{O}}} - time()) / 86400", "C", instant=True, table=True),
    ], "none", "Every certificate the origin served, in the order sent (position 0 is the leaf).",
        hide=("origin",), merge=True,
        rename={"Value #A": "not before", "Value #B": "not after", "Value #C": "days left"},
        order=["position", "subject_cn", "issuer_cn", "serial", "not before", "not after", "days left"],
        sort=("position", False),
        overrides=[col("not before", unit="dateTimeAsIso"), col("not after", unit="dateTimeAsIso"),
                   col("days left", unit="d", decimals=1, cell="color-background",
                       thresholds=thresholds("red", 0, "orange", 7, "yellow", 21, "green"))]), 24, 7)
    b.add(stat("Negotiated version", f"origin_tls_version_info{{{O}}}", "none", legend="{{version}}",
               text_mode="name", color_mode="none"), 4, 5)
    b.add(stat("Negotiated cipher", f"origin_tls_cipher_info{{{O}}}", "none", legend="{{cipher}}",
               text_mode="name", color_mode="none"), 6, 5)
    b.add(stat("Protocol versions accepted", f"origin_tls_protocol_supported{{{O}}}", "none",
               "Each version probed alone with the CDN's suites.", legend="{{version}}", mappings=YESNO,
               text_mode="value_and_name"), 8, 5)
    b.add(stat("Handshake / chain / names", f"origin_tls_handshake_success{{{O}}}", "none", legend="handshake",
               mappings=YESNO, text_mode="value_and_name"), 6, 5)
    b.panels[-1]["targets"] += [
        target(f"origin_tls_chain_valid{{{O}}}", "B", "chain valid", instant=True),
        target(f"origin_tls_san_match{{{O}}}", "C", "SAN {{name}}", instant=True)]
    # Origin mTLS: the certificate the CDN presents (from ACM, or client_certificate); no series,
    # so "No data", for origins without one.
    mtls = "The client certificate the CDN presents to this origin (origin mTLS): from ACM for a " \
           "discovered origin, else from client_certificate. ACM does not renew it; empty without origin mTLS."
    b.add(stat("CDN client certificate: days left",
               f"(origin_cdn_client_certificate_not_after_timestamp_seconds{{{O}}} - time()) / 86400", "d", mtls,
               th=thresholds("red", 0, "orange", 7, "yellow", 21, "green"), decimals=1), 12, 4)
    b.add(stat("CDN client certificate: expires",
               f"origin_cdn_client_certificate_not_after_timestamp_seconds{{{O}}} * 1000", "dateTimeAsIso", mtls,
               color_mode="none"), 12, 4)

    b.row("TCP")
    b.add(stat("Addresses ready", f"origin_address_ready{{{O}}}", "none",
               "Each address the CDN may connect to (the first 8): READY when no critical cause is active on it. "
               "One NOT READY address is a 502 for the share of viewers the CDN sends there.",
               legend="{{address}}", mappings=READY, text_mode="value_and_name"), 24, 4)
    b.add(table("Ports by address", [
        target(f"origin_tcp_port_up{{{O}}}", "A", instant=True, table=True),
        target(f"origin_tcp_connect_duration_seconds{{{O}}}", "B", instant=True, table=True),
    ], "none", "Each address the CDN would connect to, on each port its protocol policy uses.",
        hide=("origin",), merge=True, rename={"Value #A": "open", "Value #B": "connect time"},
        order=["address", "port", "open", "connect time"],
        overrides=[col("open", mappings=YESNO, cell="color-background"), col("connect time", unit="s")]), 10, 7)
    b.add(timeseries("TCP connect time", [
        target(f"origin_tcp_connect_duration_seconds{{{O}}}", legend="{{address}}:{{port}}")], "s"), 14, 7)

    b.row("DNS")
    b.add(table("Nameservers: answers and serials", [
        target(f"origin_dns_nameserver_up{{{O}}}", "A", instant=True, table=True),
        target(f"origin_dns_nameserver_authoritative{{{O}}}", "B", instant=True, table=True),
        target(f"origin_dns_nameserver_response_seconds{{{O}}}", "C", instant=True, table=True),
        target(f"origin_dns_soa_serial{{{O}}}", "D", instant=True, table=True),
    ], "none", "Each authoritative server of the origin's zone, asked directly without recursion.",
        hide=("origin",), merge=True,
        rename={"Value #A": "answers", "Value #B": "authoritative", "Value #C": "response", "Value #D": "SOA serial"},
        order=["zone", "nameserver", "address", "answers", "authoritative", "response", "SOA serial"],
        overrides=[col("answers", mappings=YESNO, cell="color-background"),
                   col("authoritative", mappings=YESNO, cell="color-background"),
                   col("response", unit="s"), col("SOA serial", decimals=0)]), 14, 7)
    b.add(timeseries("SOA serial per nameserver", [
        target(f"origin_dns_soa_serial{{{O}}}", legend="{{nameserver}} {{address}}")], "none", decimals=0), 10, 7)
    b.add(timeseries("Nameserver response time", [
        target(f"origin_dns_nameserver_response_seconds{{{O}}}", legend="{{nameserver}} {{address}}")], "s"), 12, 7)
    b.add(timeseries("Recursive resolution", [
        target(f"origin_dns_resolve_duration_seconds{{{O}}}", "A", "resolve time"),
        target(f"origin_dns_addresses{{{O}}}", "B", "addresses"),
        target(f"origin_dns_resolve_success{{{O}}}", "C", "resolves")], "s"), 12, 7)
    b.panels[-1]["fieldConfig"]["overrides"] = [
        {"matcher": {"id": "byName", "options": n}, "properties": [{"id": "unit", "value": "none"}, {"id": "decimals", "value": 0}]}
        for n in ("addresses", "resolves")]

    b.row("HTTP")
    b.add(timeseries("HTTP status", [
        target(f"origin_http_status_code{{{O}}}", legend="status")], "none",
        "Status of the request the CDN would send.", decimals=0, draw="points"), 12, 7)
    b.add(timeseries("Time to response headers", [
        target(f"origin_http_duration_seconds{{{O}}}", legend="time to headers")], "s",
        "The CDN gives up after OriginReadTimeout (read_timeout, default 30 s): http_timeout."), 12, 7)
    b.add(timeseries("Keep-alive: idle time against the CDN's", [
        target(f"origin_http_keepalive_idle_seconds{{{O}}}", "A", "origin keeps it idle"),
        target(f"origin_cdn_keepalive_timeout_seconds{{{O}}}", "B", "CDN keeps it (keepalive_timeout)")], "s",
        "After its response, how long the origin kept the connection open, idle (watched up to the CDN's "
        "keepalive_timeout + 1 s; the shortest of its addresses), and how long the CDN keeps it for its next request. "
        "Below the CDN's line: http_keepalive_race, the CDN may send a request on a connection the origin is closing (502). "
        "Empty when the origin closes after each response (Connection: close)."), 12, 7)
    b.add(timeseries("Time to the last byte", [
        target(f"origin_http_response_complete_seconds{{{O}}}", legend="time to last byte")], "s",
        "From the first connection attempt to the last byte of the response, for origins with "
        "response_completion_timeout (CloudFront's ResponseCompletionTimeout): later than it is http_timeout (504). "
        "Empty without the setting, for a late response, or a body over 8 MiB."), 12, 7)

    b.row("Edge (the CDN's own answer; origins with an edge check)")
    b.add(stat("Edge status", f"origin_edge_status_code{{{O}}}", "none",
               "Status the CDN answered for the edge URL.", th=thresholds("green", 500, "red"),
               color_mode="value", decimals=0), 4, 6)
    b.add(stat("Edge answers", f"origin_edge_up{{{O}}}", "none",
               "yes: the edge answered with any HTTP response within the timeout. no: OriginEdgeDown (not an origin cause).",
               mappings=YESNO), 4, 6)
    b.add(stat("X-Cache now", f"origin_edge_result_info{{{O}}} == 1", "none",
               "What the CDN said it did (X-Cache): hit, miss, refresh_hit, error (CDN-generated error), "
               "lambda_* (Lambda@Edge), function_* (CloudFront Functions), other.",
               legend="{{result}}", text_mode="name", color_mode="none"), 4, 6)
    b.add(panel("state-timeline", "X-Cache class over time", [
        target(f"origin_edge_result_info{{{O}}}", legend="{{result}}")], "none",
        "One row per X-Cache class the edge answered with; coloured while it is the current one.", 0,
        thresholds("transparent", 1, "blue"), mapping({1: ("current", "blue"), 0: ("", "transparent")}),
        {"showValue": "never", "mergeValues": True, "rowHeight": 0.8, "alignValue": "left",
         "legend": {"displayMode": "list", "placement": "bottom", "showLegend": False}}), 12, 6)
    b.add(timeseries("Edge and origin status over time", [
        target(f"origin_edge_status_code{{{O}}}", legend="edge status")], "none",
        "Status the CDN answered for the edge URL, next to the origin's own HTTP status.", decimals=0, draw="points"), 8, 7)
    b.panels[-1]["targets"].append(target(f"origin_http_status_code{{{O}}}", "B", "origin status"))
    b.add(timeseries("Edge time to response headers", [
        target(f"origin_edge_duration_seconds{{{O}}}", legend="edge")], "s",
        "Through the CDN: includes the CDN's own fetch from the origin on a miss. The whole edge check's "
        "time is in Check durations above (check=edge)."), 8, 7)
    b.add(panel("state-timeline", "Edge and verdict agreement", [
        target(f"(origin_edge_status_code{{{O}}} >= bool 500) * on (job, instance, origin) "
               f'(1 - max by (job, instance, origin) (origin_problem{{{O},severity="critical",cause!~"edge_.+"}}))',
               "A", "edge 5xx, origin side clean"),
        target(f"(origin_edge_status_code{{{O}}} < bool 500) * on (job, instance, origin) "
               f"(1 - origin_cdn_ready{{{O}}})", "B", "edge OK, not CDN-ready"),
    ], "none",
        "disagree (edge 5xx, origin side clean): the CDN fails although no origin-side cause is active: "
        "edge_lambda_error, edge_function_error or edge_unexplained_error (a firewall admitting the exporter but not "
        "the CDN). disagree (edge OK, not CDN-ready): the exporter says the CDN cannot fetch, yet the edge answers: "
        "a cached answer, an origin group failing over, or the exporter probing differently from the CDN.", 0,
        thresholds("green", 1, "orange"), AGREE,
        {"showValue": "never", "mergeValues": True, "rowHeight": 0.8, "alignValue": "left",
         "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}}), 8, 7)
    return dashboard("origin-exporter-origin", "origin_exporter / Origin drill-down",
                     "One origin as the CDN sees it: causes over time, certificate chain, ports, nameservers, HTTP, "
                     "and the CDN's own answer (edge check).",
                     b, True,
                     [{"title": "Fleet overview", "type": "link", "url": "/d/origin-exporter-fleet/origin-exporter-fleet-overview",
                       "keepTime": True, "includeVars": True, "icon": "dashboard"}])


def render(d):
    return json.dumps(d, indent=2, ensure_ascii=False) + "\n"


def main():
    files = {"origin-fleet.json": fleet(), "origin-detail.json": detail()}
    stale = []
    for name, d in files.items():
        path = HERE / name
        text = render(d)
        if "--check" in sys.argv:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote {path}")
    if stale:
        sys.exit(f"FAIL: {', '.join(stale)} not generated from dashboards/generate.py; run python3 dashboards/generate.py")
    if "--check" in sys.argv:
        print("ok: dashboards match dashboards/generate.py")


if __name__ == "__main__":
    main()
