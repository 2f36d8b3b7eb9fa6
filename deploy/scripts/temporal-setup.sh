#!/bin/sh
# Creates the Temporal namespace if it is missing and registers fleetmend's
# custom search attributes in it, then waits until the namespace serves
# requests, so workers started after this job find it. Idempotent: an
# existing namespace is left as it is, and registering an attribute that
# exists with the same type changes nothing. Runs in temporalio/admin-tools
# (docker-compose.yml).
#
#   TEMPORAL_ADDRESS     frontend host:port
#   TEMPORAL_NAMESPACE   namespace to create and register the attributes in
#   NAMESPACE_RETENTION  retention of closed runs, used only when creating
#   SEARCH_ATTRIBUTES    whitespace-separated Name=Type pairs
set -eu

: "${TEMPORAL_ADDRESS:?}" "${TEMPORAL_NAMESPACE:?}" "${SEARCH_ATTRIBUTES:?}"
RETENTION=${NAMESPACE_RETENTION:-720h}
ATTEMPTS=${SETUP_ATTEMPTS:-60}
PAUSE=${SETUP_PAUSE_SECONDS:-2}
ns=$TEMPORAL_NAMESPACE
addr=$TEMPORAL_ADDRESS

# retry CMD...: runs CMD until it succeeds, at most $ATTEMPTS times; only
# the last failure's output is shown.
retry() {
	n=1
	until out=$("$@" 2>&1); do
		if [ "$n" -ge "$ATTEMPTS" ]; then
			echo "temporal-setup: giving up after $n attempts: $*" >&2
			echo "$out" >&2
			return 1
		fi
		n=$((n + 1))
		sleep "$PAUSE"
	done
	[ -z "$out" ] || echo "$out"
}

echo "temporal-setup: waiting for the Temporal frontend at $addr"
retry temporal operator cluster health --address "$addr"

# create_namespace: describe first, so an existing namespace keeps its settings.
create_namespace() {
	temporal operator namespace describe --address "$addr" --namespace "$ns" >/dev/null 2>&1 ||
		temporal operator namespace create --address "$addr" --namespace "$ns" --retention "$RETENTION"
}
echo "temporal-setup: namespace $ns"
retry create_namespace

for pair in $SEARCH_ATTRIBUTES; do
	name=${pair%%=*}
	type=${pair#*=}
	if [ -z "$name" ] || [ -z "$type" ] || [ "$name" = "$pair" ]; then
		echo "temporal-setup: SEARCH_ATTRIBUTES entry '$pair' is not Name=Type" >&2
		exit 2
	fi
	echo "temporal-setup: search attribute $name ($type)"
	retry temporal operator search-attribute create --address "$addr" --namespace "$ns" --name "$name" --type "$type"
done

# A new namespace reaches every frontend's cache a few seconds after it is
# created; listing workflows succeeds only once it has.
echo "temporal-setup: waiting until namespace $ns serves requests"
retry temporal workflow list --address "$addr" --namespace "$ns" --limit 1
retry temporal operator search-attribute list --address "$addr" --namespace "$ns"
echo "temporal-setup: done"
