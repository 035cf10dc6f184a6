# Sourced by scripts/test and scripts/fuzz (not run): start_deps NAME starts
# the services the tests use, each on a free loopback port, for as long as
# the script runs: MongoDB (embedded FerretDB behind the serializing proxy),
# Redis and stripe-mock, from `devstack deps`, and exports their TEST_*
# variables. It uses the script's $work folder and sets deps_pid, which the
# script's cleanup kills; NAME is how its messages begin.
start_deps() {
	CGO_ENABLED=0 go build -trimpath -o "$work/devstack" ./cmd/devstack
	"$work/devstack" deps --env-file "$work/env" >"$work/deps.log" 2>&1 &
	deps_pid=$!
	for _ in $(seq 1 600); do
		[ -s "$work/env" ] && break
		if ! kill -0 "$deps_pid" 2>/dev/null; then
			cat "$work/deps.log" >&2
			echo "$1: the test services did not start" >&2
			exit 1
		fi
		sleep 0.1
	done
	if [ ! -s "$work/env" ]; then
		cat "$work/deps.log" >&2
		echo "$1: the test services did not start within 60s" >&2
		exit 1
	fi
	# shellcheck disable=SC1091
	. "$work/env"
}
