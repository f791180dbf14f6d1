// Package manifeststest checks Klaxon's deployment files: Helm-rendered
// Kubernetes manifests decoded strictly into the Kubernetes Go types, the
// Grafana dashboard, and the metric names they use.
//
// It is its own Go module, so the Kubernetes modules stay out of Klaxon's
// go.mod. scripts/check-deploy.sh renders the chart and runs it:
//
//	KLAXON_RENDERED_DIR=<dir of helm template output> \
//	KLAXON_BINARY=<klaxon binary> go test ./...
package manifeststest
