#!/usr/bin/env bash
# scripts/check-deploy.sh — validates Klaxon's deployment files offline: no
# container engine and no Kubernetes cluster needed.
#
#   Dockerfile, .dockerignore   lint-like checks (deploy/manifests_test)
#   docker-compose.yml          docker-compose config -q (Debian's docker-compose)
#   deploy/compose/             klaxon check-config, klaxon rules check,
#                               promtool check config (when a promtool is around)
#   deploy/helm/klaxon          helm lint --strict and helm template with the
#                               default values and ci/ha-values.yaml; the
#                               rendered manifests decoded strictly into the
#                               Kubernetes Go types, the chart's klaxon.yml
#                               through check-config, its PrometheusRule
#                               through rules check
#   deploy/grafana/klaxon.json  valid JSON, panels use Klaxon's metrics only
#
# It installs what it needs when missing (docker-compose from apt; helm
# built once with `go install` and kept under ~/.cache/klaxon-tools).
# scripts/test.sh runs it after the Go tests.
#
# Environment:
#   KLAXON_BINARY   the klaxon binary to use (scripts/test.sh exports it);
#                   without it one is built as the Dockerfile builds it.
set -euo pipefail

cd "$(dirname "$0")/.."

HELM_VERSION=v3.22.0
# helm built with `go install` defaults to Kubernetes v1.20 for
# .Capabilities; render for a supported version instead.
KUBE_VERSION=1.33.0
CHART=deploy/helm/klaxon

LIB_NAME=scripts/check-deploy.sh
# shellcheck source=scripts/lib.sh
source scripts/lib.sh

# need_helm: print the path of helm $HELM_VERSION, building it once.
need_helm() {
	go_tool "helm-$HELM_VERSION" helm "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/klaxon-deploy.XXXXXX")
trap 'stop_flow; rm -rf "$WORK"' EXIT


# klaxon_binary: use $KLAXON_BINARY, or build one as the Dockerfile does
# (static, CGO off) and check that it is static.
klaxon_binary() {
	if [[ -n ${KLAXON_BINARY:-} && -x $KLAXON_BINARY ]]; then
		return 0
	fi
	log "building klaxon as the Dockerfile does (CGO_ENABLED=0 -trimpath)"
	CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$WORK/klaxon" ./cmd/klaxon || return
	go version -m "$WORK/klaxon" | grep -q 'CGO_ENABLED=0' || { echo "klaxon binary is not static" >&2; return 1; }
	export KLAXON_BINARY="$WORK/klaxon"
}

compose_config() {
	docker-compose -f docker-compose.yml config -q
}

promtool_check() {
	"$1" check config deploy/compose/prometheus.yml
}

# render NAME HELM-ARGS...: helm template into $WORK/rendered/NAME.yaml.
render() {
	local name=$1
	shift
	mkdir -p "$WORK/rendered"
	"$HELM" template klaxon "$CHART" --namespace alerting --kube-version "$KUBE_VERSION" "$@" \
		>"$WORK/rendered/$name.yaml"
}

# must_fail_render WHY HELM-ARGS...: the chart must refuse these values.
must_fail_render() {
	local why=$1 out
	shift
	if out=$("$HELM" template klaxon "$CHART" --kube-version "$KUBE_VERSION" "$@" 2>&1); then
		echo "helm template $* rendered, but should have failed: $why" >&2
		return 1
	fi
	grep -q "$why" <<<"$out" || { printf 'want an error about %q, got:\n%s\n' "$why" "$out" >&2; return 1; }
}

# free_ports N: print the first of N consecutive TCP ports free on 127.0.0.1.
free_ports() {
	local p i
	for ((p = 20000 + RANDOM % 20000; p < 65000; p += $1)); do
		for ((i = 0; i < $1; i++)); do
			(exec 3<>"/dev/tcp/127.0.0.1/$((p + i))") 2>/dev/null && continue 2
		done
		echo "$p"
		return
	done
	return 1
}

# wait_for URL SECONDS PATTERN: poll URL until its body matches PATTERN.
wait_for() {
	local url=$1 deadline=$((SECONDS + $2)) pattern=$3 header=${4:-}
	while ((SECONDS < deadline)); do
		if curl -fsS ${header:+-H "$header"} "$url" 2>/dev/null | grep -q "$pattern"; then
			log "  $url has $pattern after $((SECONDS - deadline + $2))s"
			return 0
		fi
		sleep 1
	done
	echo "timed out waiting for $pattern at $url" >&2
	return 1
}

# compose_flow runs docker-compose.yml's flow without containers: Prometheus
# with deploy/compose/prometheus.yml and its rules, Klaxon with
# deploy/compose/klaxon.yml (on SQLite), and Mailpit, on loopback ports
# instead of the compose host names; KlaxonDemoAlert must arrive as an
# incident and an e-mail.
PIDS=()
compose_flow() {
	local prometheus=$1 mailpit=$2 dir="$WORK/flow" smtp http prom klaxon token rc=0
	mkdir -p "$dir/rules" "$dir/data"
	smtp=$(free_ports 4) && http=$((smtp + 1)) && prom=$((smtp + 2)) && klaxon=$((smtp + 3))
	sed "s/mailpit:1025/127.0.0.1:$smtp/" deploy/compose/klaxon.yml >"$dir/klaxon.yml"
	sed -e "s/klaxon:9093/127.0.0.1:$klaxon/" -e "s/localhost:9090/127.0.0.1:$prom/" \
		deploy/compose/prometheus.yml >"$dir/prometheus.yml"
	cp deploy/compose/rules/*.yml "$dir/rules/"

	"$mailpit" --smtp "127.0.0.1:$smtp" --listen "127.0.0.1:$http" --database "$dir/mailpit.db" \
		>"$dir/mailpit.log" 2>&1 &
	PIDS+=($!)
	# Reading incidents needs a token with the read scope.
	token=$("$KLAXON_BINARY" tokens create deploy-check --scope read --storage.path="$dir/data") || return 1
	"$KLAXON_BINARY" serve --config.file="$dir/klaxon.yml" --storage.path="$dir/data" \
		--web.listen-address="127.0.0.1:$klaxon" >"$dir/klaxon.log" 2>&1 &
	PIDS+=($!)
	# As compose's depends_on, and its --rules.alert.resend-delay: alerts that
	# fire before Prometheus has found Klaxon are sent again 10s later.
	wait_for "http://127.0.0.1:$klaxon/-/ready" 60 . || rc=1
	"$prometheus" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/tsdb" \
		--web.listen-address="127.0.0.1:$prom" --rules.alert.resend-delay=10s >"$dir/prometheus.log" 2>&1 &
	PIDS+=($!)

	# Prometheus evaluates every 15s and Klaxon's group_wait is 10s: about
	# 20s on an idle machine, 30s when the first send found no Klaxon.
	((rc == 0)) && wait_for "http://127.0.0.1:$klaxon/api/v1/incidents" 120 KlaxonDemoAlert "Authorization: Bearer $token" &&
		wait_for "http://127.0.0.1:$http/api/v1/messages" 60 KlaxonDemoAlert || rc=1
	stop_flow
	if [[ $rc -ne 0 ]]; then
		tail -n 20 "$dir"/*.log >&2
	fi
	return "$rc"
}
stop_flow() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	PIDS=()
}

manifests_test() {
	(cd deploy/manifests_test &&
		go vet ./... &&
		KLAXON_RENDERED_DIR="$WORK/rendered" KLAXON_BINARY="${KLAXON_BINARY:-}" GOWORK=off \
			go test -count=1 ./...)
}

main() {
	need_pkg docker-compose docker-compose
	step "docker-compose config (docker-compose.yml)" compose_config

	if step "klaxon binary" klaxon_binary && [[ -n ${KLAXON_BINARY:-} ]]; then
		step "klaxon check-config deploy/compose/klaxon.yml" "$KLAXON_BINARY" check-config deploy/compose/klaxon.yml
		step "klaxon rules check deploy/compose/rules/" "$KLAXON_BINARY" rules check deploy/compose/rules/
	fi
	local promtool=${KLAXON_TEST_PROMTOOL_BINARY:-$(command -v promtool || true)}
	if [[ -n $promtool && -x $promtool ]]; then
		step "promtool check config deploy/compose/prometheus.yml" promtool_check "$promtool"
	else
		skip_step "promtool check config (no promtool; scripts/test.sh provides one)"
	fi

	local prometheus=${KLAXON_TEST_PROMETHEUS_BINARY:-/usr/bin/prometheus}
	local mailpit=${KLAXON_TEST_MAILPIT:-$TOOLS/mailpit-v1.33.1/mailpit}
	if [[ -n ${KLAXON_BINARY:-} && -x $prometheus && -x $mailpit ]] && command -v curl >/dev/null; then
		step "docker-compose flow without containers (Prometheus -> Klaxon -> Mailpit)" \
			compose_flow "$prometheus" "$mailpit"
	else
		skip_step "docker-compose flow (needs prometheus and mailpit; scripts/test.sh provides them)"
	fi

	HELM=$(need_helm)
	step "helm lint --strict $CHART" "$HELM" lint --strict --kube-version "$KUBE_VERSION" "$CHART"
	step "helm lint --strict $CHART (ci/ha-values.yaml)" \
		"$HELM" lint --strict --kube-version "$KUBE_VERSION" "$CHART" -f "$CHART/ci/ha-values.yaml"
	step "helm template $CHART" render default
	step "helm template $CHART (ci/ha-values.yaml)" render ha -f "$CHART/ci/ha-values.yaml"
	step "helm template $CHART (SQLite with a volume)" render sqlite-persistent --set persistence.enabled=true
	step "helm template $CHART (database.url, route prefix)" render database-url \
		--set database.url='postgres://klaxon:secret@postgres/klaxon' --set externalURL=https://example.com/klaxon/
	step "helm template refuses replicas without PostgreSQL" \
		must_fail_render "replicaCount > 1 needs PostgreSQL" --set replicaCount=2

	step "go test deploy/manifests_test (strict decoding, dashboard, Dockerfile)" manifests_test

	summary scripts/check-deploy.sh
	return "$FAILED"
}

main "$@"
