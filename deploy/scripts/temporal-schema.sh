#!/bin/sh
# Creates Temporal's two PostgreSQL databases if missing and brings both
# schemas to the version of this admin-tools image. Idempotent: on an
# up-to-date database every step is a no-op, and after an image upgrade it
# applies the new migrations. Runs in temporalio/admin-tools (docker-compose.yml).
#
# temporal-sql-tool reads the connection from SQL_PLUGIN, SQL_HOST, SQL_PORT,
# SQL_USER and SQL_PASSWORD. DBNAME and VISIBILITY_DBNAME name the two
# databases, SCHEMA_DIR the plugin's schema directory in the image.
set -eu

: "${SQL_PLUGIN:?}" "${SQL_HOST:?}" "${SQL_USER:?}" "${DBNAME:?}" "${VISIBILITY_DBNAME:?}" "${SCHEMA_DIR:?}"
ATTEMPTS=${SETUP_ATTEMPTS:-30}
PAUSE=${SETUP_PAUSE_SECONDS:-2}

# retry CMD...: runs CMD until it succeeds, at most $ATTEMPTS times.
retry() {
	n=1
	until "$@"; do
		if [ "$n" -ge "$ATTEMPTS" ]; then
			echo "temporal-schema: giving up after $n attempts: $*" >&2
			return 1
		fi
		n=$((n + 1))
		sleep "$PAUSE"
	done
}

for db in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do
	name=${db%%:*}
	dir=${db#*:}
	echo "temporal-schema: database $name"
	# create is a no-op when the database exists; the retry covers a
	# PostgreSQL that is still starting.
	retry temporal-sql-tool --db "$name" create
	# Version tables at 0.0 unless a version is already recorded.
	temporal-sql-tool --db "$name" setup-schema -v 0.0
	# Every migration above the recorded version.
	temporal-sql-tool --db "$name" update-schema -d "$SCHEMA_DIR/$dir/versioned"
done
echo "temporal-schema: done"
