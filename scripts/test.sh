#!/usr/bin/env bash
# scripts/test.sh — the one command that runs Klaxon's whole test suite.
#
# It does its own set-up on a fresh Debian 12 machine (installs PostgreSQL
# from apt if missing), starts a throw-away PostgreSQL on a free loopback
# port, runs the static checks, builds the klaxon binary once, runs the Go
# tests, and tears everything down on exit.
#
# Usage:
#   scripts/test.sh                      # full suite: static checks + build + tests
#   scripts/test.sh -run Foo ./router/   # pass-through: only `go test -count=1 "$@"`
#
# Environment:
#   KLAXON_TEST_POSTGRES_URL  if already set, that database is used and no
#                             PostgreSQL is started; otherwise it is exported
#                             for the tests.
#   KLAXON_BINARY             exported: path of the klaxon binary built here
#                             (full mode only; in pass-through mode the tests
#                             build it themselves via internal/testenv unless
#                             it is already set).
#   KLAXON_TEST_PGBIN         exported: PostgreSQL's server programs, for the
#                             tests that run a private server (outages).
#   KLAXON_TEST_ARTIFACTS_DIR exported as $REPO_ROOT/artifacts unless set:
#                             where tests leave files to look at afterwards
#                             (screenshots of the browser tests), kept by CI.
#   CI                        passed through unchanged (CI=true makes missing
#                             test services a failure instead of a skip).
set -euo pipefail

cd "$(dirname "$0")/.."
REPO_ROOT=$(pwd)
export KLAXON_TEST_ARTIFACTS_DIR=${KLAXON_TEST_ARTIFACTS_DIR:-$REPO_ROOT/artifacts}

GO_TEST_TIMEOUT=15m
STATICCHECK=honnef.co/go/tools/cmd/staticcheck@v0.8.2
PGBIN=/usr/lib/postgresql/15/bin
PG_FIRST_PORT=15432

# ---------------------------------------------------------------------------
# Services to set up before the tests run. Each name NAME here must have a
# function setup_NAME below. Later issues extend this list, e.g.
#   SERVICES=(postgres alertmanager prometheus chromium)
# ---------------------------------------------------------------------------
SERVICES=(postgres prometheus promtool mailpit alertmanager chromium)

LIB_NAME=scripts/test.sh
# shellcheck source=scripts/lib.sh
source "$REPO_ROOT/scripts/lib.sh"

# --- cleanup -----------------------------------------------------------------

CLEANUP=()   # commands run in reverse order on exit
teardown() {
	local i
	for ((i = ${#CLEANUP[@]} - 1; i >= 0; i--)); do
		eval "${CLEANUP[i]}" || true
	done
	CLEANUP=()
}

# --- services ---------------------------------------------------------------

setup_postgres() {
	# The server programs are needed even with a database given from
	# outside: the outage and chaos tests run private servers they stop
	# and start (internal/testenv.StartPostgres).
	if [[ ! -x $PGBIN/initdb ]]; then
		need_pkg "$PGBIN/initdb" postgresql
		# The Debian postinst may have created and started the default
		# cluster on 5432; we don't use it.
		if command -v pg_ctlcluster >/dev/null 2>&1; then
			pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
		fi
	fi
	export KLAXON_TEST_PGBIN=$PGBIN

	if [[ -n ${KLAXON_TEST_POSTGRES_URL:-} ]]; then
		log "PostgreSQL: using KLAXON_TEST_POSTGRES_URL from the environment"
		export KLAXON_TEST_POSTGRES_URL
		return 0
	fi

	# initdb refuses to run as root: run the server as the postgres user in
	# a directory it owns. Keep the path short (unix socket path limit).
	PG_DIR=$(mktemp -d /tmp/klaxon-pg.XXXXXX)
	CLEANUP+=('rm -rf "$PG_DIR"')
	chown postgres: "$PG_DIR"

	local start=$SECONDS
	# `cd` so runuser does not complain about an unreadable cwd (e.g. /root).
	(cd "$PG_DIR" && runuser -u postgres -- "$PGBIN/initdb" -D "$PG_DIR/data" \
		-U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1) ||
		{ cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }

	# Pick a free port; retry on the next one if another process grabs it
	# between the probe and the bind.
	local port=$PG_FIRST_PORT attempt started=0
	for attempt in 1 2 3 4 5 6 7 8 9 10; do
		port=$(free_port "$port")
		if (cd "$PG_DIR" && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG_DIR/data" \
			-l "$PG_DIR/postgres.log" -w -t 60 \
			-o "-p $port -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200" \
			start >/dev/null); then
			started=1
			break
		fi
		log "PostgreSQL did not start on port $port (attempt $attempt), trying the next port"
		port=$((port + 1))
	done
	if [[ $started -ne 1 ]]; then
		tail -n 30 "$PG_DIR/postgres.log" >&2 || true
		die "could not start PostgreSQL"
	fi
	CLEANUP+=('(cd "$PG_DIR" && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null)')

	"$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
		-v ON_ERROR_STOP=1 -c 'CREATE DATABASE klaxon_test' ||
		die "could not create database klaxon_test"

	export KLAXON_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/klaxon_test?sslmode=disable"
	log "PostgreSQL ready on 127.0.0.1:$port in $((SECONDS - start))s (data in $PG_DIR)"
}

# The following are installed-only for now: later issues add them to
# SERVICES and start them where the tests need a running instance.

# setup_alertmanager installs Debian's alertmanager 0.25 and amtool, the
# reference of the differential tests (e2e/differential_test.go) and the
# client of e2e/amtool_test.go. The tests start their own instances.
setup_alertmanager() {
	need_pkg /usr/bin/prometheus-alertmanager prometheus-alertmanager
	need_pkg /usr/bin/amtool prometheus-alertmanager
	# The package's own service is not used; stop it if the install
	# started it, so that it does not hold port 9093.
	if command -v systemctl >/dev/null 2>&1; then
		systemctl stop prometheus-alertmanager >/dev/null 2>&1 || true
	fi
	export KLAXON_TEST_ALERTMANAGER_BINARY=/usr/bin/prometheus-alertmanager
	export KLAXON_TEST_AMTOOL_BINARY=/usr/bin/amtool
}

setup_prometheus() {
	need_pkg /usr/bin/prometheus prometheus
	export KLAXON_TEST_PROMETHEUS_BINARY=/usr/bin/prometheus
}

# setup_promtool builds promtool 3.x from the Prometheus module version in
# go.mod: the reference for `klaxon rules test` (Debian's promtool 2.42
# differs on range boundaries). The first build takes minutes; it is kept
# per version under ~/.cache/klaxon-tools, so later runs reuse it.
setup_promtool() {
	local version
	version=$(go list -m -f '{{.Version}}' github.com/prometheus/prometheus) ||
		die "cannot find the prometheus module version in go.mod"
	KLAXON_TEST_PROMTOOL_BINARY=$(go_tool "$version" promtool "github.com/prometheus/prometheus/cmd/promtool@$version")
	export KLAXON_TEST_PROMTOOL_BINARY
}

# setup_mailpit builds mailpit, a real SMTP server (STARTTLS, AUTH) with a
# REST API to read delivered mail back, for the email tests. It is kept
# under ~/.cache/klaxon-tools, so later runs reuse it.
MAILPIT_VERSION=v1.33.1
setup_mailpit() {
	KLAXON_TEST_MAILPIT=$(go_tool "mailpit-$MAILPIT_VERSION" mailpit "github.com/axllent/mailpit@$MAILPIT_VERSION")
	export KLAXON_TEST_MAILPIT
}

setup_chromium() {
	need_pkg /usr/bin/chromium chromium
	export KLAXON_TEST_CHROMIUM_BINARY=/usr/bin/chromium
}

# --- steps ------------------------------------------------------------------


check_gofmt() {
	local out
	out=$(gofmt -l . 2>&1) || { printf '%s\n' "$out" >&2; return 1; }
	if [[ -n $out ]]; then
		printf 'gofmt: these files are not gofmt-formatted:\n%s\n' "$out" >&2
		return 1
	fi
}

build_binary() {
	BIN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/klaxon-bin.XXXXXX")
	CLEANUP+=('rm -rf "$BIN_DIR"')
	go build -o "$BIN_DIR/klaxon" ./cmd/klaxon || return
	export KLAXON_BINARY="$BIN_DIR/klaxon"
	log "KLAXON_BINARY=$KLAXON_BINARY"
}

# FUZZTIME is how much each fuzz target runs in the full suite: long enough
# to mutate past the seed corpus, short enough for CI. A count of inputs
# rather than a duration: a timed run on a loaded machine can end with the
# fuzzer's own "context deadline exceeded" while a worker is still busy,
# which says nothing about the code under test.
FUZZTIME=${FUZZTIME:-20000x}

# run_fuzz runs every Fuzz* target of the module for $FUZZTIME each (go
# test -fuzz takes one target of one package at a time).
run_fuzz() {
	local file pkg name rc=0
	while IFS= read -r file; do
		pkg=./$(dirname "$file")
		while IFS= read -r name; do
			log "fuzz $pkg $name ($FUZZTIME)"
			go test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "$pkg" || rc=1
		done < <(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file")
	done < <(grep -rl --include='*_test.go' '^func Fuzz' . | sed 's|^\./||' | sort)
	return $rc
}


main() {
	trap 'rc=$?; teardown; exit $rc' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	if [[ -v CI ]]; then export CI; fi # passed through unchanged

	local svc
	for svc in "${SERVICES[@]}"; do
		"setup_$svc"
	done

	if [[ $# -gt 0 ]]; then
		# Pass-through mode: no static checks, just the requested tests.
		step "go test -count=1 $*" go test -count=1 "$@"
		summary scripts/test.sh
		return "$FAILED"
	fi

	step "gofmt -l ." check_gofmt
	step "go vet ./..." go vet ./...
	step "staticcheck ./..." go run "$STATICCHECK" ./...

	if [[ -n ${KLAXON_BINARY:-} ]]; then
		skip_step "build ./cmd/klaxon (KLAXON_BINARY already set: $KLAXON_BINARY)"
		export KLAXON_BINARY
	elif [[ -d cmd/klaxon ]]; then
		step "go build ./cmd/klaxon" build_binary
	else
		skip_step "build ./cmd/klaxon (no cmd/klaxon yet)"
	fi

	step "go test -count=1 ./..." go test -count=1 -timeout "$GO_TEST_TIMEOUT" ./...

	step "deploy manifests" bash scripts/check-deploy.sh

	step "go test -fuzz (each target $FUZZTIME)" run_fuzz
	# Every benchmark once: they keep compiling and working, and the ones
	# that prove a capacity claim (rules/ BenchmarkTenThousandRules fails
	# if a group overruns its interval) run on every change. Their numbers
	# are for BENCHMARKS.md runs on a quiet machine, not for CI.
	step "go test -bench . -benchtime 1x ./..." \
		go test -count=1 -run '^$' -bench . -benchtime 1x -timeout "$GO_TEST_TIMEOUT" ./...

	local race_pkgs=() d
	for d in router notifiers storage; do
		[[ -d $d ]] && race_pkgs+=("./$d/...")
	done
	if [[ ${#race_pkgs[@]} -gt 0 ]]; then
		need_pkg gcc gcc # -race needs cgo
		step "go test -count=1 -race ${race_pkgs[*]}" \
			go test -count=1 -race -timeout "$GO_TEST_TIMEOUT" "${race_pkgs[@]}"
	else
		skip_step "go test -race (no router/, notifiers/ or storage/ yet)"
	fi

	summary scripts/test.sh
	return "$FAILED"
}

# Run main unless sourced (sourcing lets you call need_pkg etc. by hand).
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	main "$@"
fi
