// Validates ServiceMonitor and PrometheusRule objects against the Prometheus Operator's CRD
// schemas (@kubernetes-models/prometheus-operator). Usage: node check-operator-objects.js FILE...
"use strict";
const fs = require("fs");
const YAML = require("yaml");
const { ServiceMonitor, PrometheusRule } = require("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1");

const kinds = { ServiceMonitor, PrometheusRule };
let failed = 0;
let checked = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(file, "utf8"))) {
    if (doc.errors.length) {
      console.error(`FAIL ${file}: YAML: ${doc.errors.map(String).join("; ")}`);
      failed++;
      continue;
    }
    const obj = doc.toJS();
    if (!obj) continue;
    const Model = kinds[obj.kind];
    if (!Model || obj.apiVersion !== "monitoring.coreos.com/v1") {
      console.error(`FAIL ${file}: unexpected ${obj.apiVersion} ${obj.kind}`);
      failed++;
      continue;
    }
    try {
      new Model(obj).validate();
      checked++;
      console.log(`ok: ${file}: ${obj.kind}/${obj.metadata && obj.metadata.name} is valid`);
    } catch (e) {
      console.error(`FAIL ${file}: ${obj.kind}: ${e.message}`);
      if (e.errors) console.error(JSON.stringify(e.errors, null, 2));
      failed++;
    }
  }
}
if (failed || !checked) {
  console.error(`${failed} invalid, ${checked} valid`);
  process.exit(1);
}
