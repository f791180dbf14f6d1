# scripts/lib.sh — helpers shared by scripts/test.sh and scripts/check-deploy.sh:
# logging, installing Debian packages and Go-built tools on demand, and
# recording steps for the summary. Source it; it defines functions only
# (and the variables they keep).
#
# The sourcing script sets LIB_NAME (for messages) before sourcing.

log() { printf '==> %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "${LIB_NAME:-scripts}" "$*" >&2; exit 1; }

# --- installing what is missing ------------------------------------------

APT_UPDATED=0
apt_install() {
	if [[ $(id -u) -ne 0 ]]; then
		die "need to apt-get install $* but not running as root; install it yourself or run as root"
	fi
	export DEBIAN_FRONTEND=noninteractive
	if [[ $APT_UPDATED -eq 0 ]]; then
		log "apt-get update"
		apt-get update -q >&2
		APT_UPDATED=1
	fi
	log "apt-get install $*"
	apt-get install -y -q --no-install-recommends "$@" >&2
}

# have BINARY: BINARY is an absolute path to an executable or a command in PATH.
have() {
	if [[ $1 == */* ]]; then [[ -x $1 ]]; else command -v "$1" >/dev/null 2>&1; fi
}

# need_pkg BINARY PACKAGE: install apt PACKAGE unless BINARY exists.
need_pkg() {
	local bin=$1 pkg=$2
	have "$bin" && return 0
	local start=$SECONDS
	apt_install "$pkg"
	log "installed $pkg in $((SECONDS - start))s"
	have "$bin" || die "installed $pkg but $bin is still missing"
}

# TOOLS caches Go-built tools across runs, per version.
TOOLS="${XDG_CACHE_HOME:-$HOME/.cache}/klaxon-tools"

# go_tool DIR NAME PACKAGE@VERSION: print the path of NAME built with
# `go install` into $TOOLS/DIR, building it the first time.
go_tool() {
	local dir="$TOOLS/$1" name=$2 pkg=$3
	if [[ ! -x $dir/$name ]]; then
		log "building $name from $pkg (once; cached in $dir)"
		mkdir -p "$dir"
		(cd / && GOBIN="$dir" go install "$pkg") >&2 || die "could not build $pkg"
	fi
	echo "$dir/$name"
}

# --- ports -------------------------------------------------------------------

# port_in_use PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port START: print the first port >= START nobody listens on.
free_port() {
	local p=$1
	while port_in_use "$p"; do
		p=$((p + 1))
		((p < 65535)) || die "no free port found"
	done
	echo "$p"
}

# --- steps and the summary -----------------------------------------------------

RESULTS=()
FAILED=0

# step NAME CMD...: run CMD, record PASS/FAIL for the summary, keep going.
step() {
	local name=$1 start=$SECONDS rc=0
	shift
	log "$name"
	"$@" || rc=$?
	if [[ $rc -eq 0 ]]; then
		RESULTS+=("PASS  $name ($((SECONDS - start))s)")
	else
		RESULTS+=("FAIL  $name (exit $rc, $((SECONDS - start))s)")
		FAILED=1
	fi
	return 0 # the verdict is in RESULTS and FAILED; keep going under set -e
}

skip_step() { RESULTS+=("SKIP  $1"); log "skipped: $1"; }

# summary TITLE: print the recorded steps and the verdict.
summary() {
	echo
	echo "==================== $1 summary ===================="
	printf '  %s\n' "${RESULTS[@]}"
	echo "  total $((SECONDS))s"
	if [[ $FAILED -eq 0 ]]; then echo "  RESULT: PASS"; else echo "  RESULT: FAIL"; fi
	echo "================================================================="
}
