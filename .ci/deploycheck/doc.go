// Command deploycheck checks deploy/ against the engine it deploys. CI runs
// it from .ci/deploy-checks after starting the real kairos binary and
// saving a /metrics scrape:
//
//	deploycheck dashboard -scrape FILE DASHBOARD.json...  every metric a panel queries is exported
//	deploycheck alerts    -scrape FILE RULES.yml...       every metric an alert uses is exported, or external and named
//	deploycheck pending   -scrape FILE                    planned panels and alerts whose metric now exists
//	deploycheck table     -scrape FILE                    the README's metrics table, generated from the scrape
//	deploycheck doc       -scrape FILE DOC.md             the metrics table in DOC.md lists exactly the exported kairos_* metrics
//	deploycheck k8s       DIR                             manifests decode strictly into the Kubernetes API types and reference each other correctly
//	deploycheck yaml      FILE...                         strict YAML parse (duplicate keys, syntax)
//
// It is its own module so that the Kubernetes API types it decodes into do
// not become dependencies of the engine.
package main
