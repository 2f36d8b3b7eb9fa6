package pgschema_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/log"

	"github.com/fleetmend/fleetmend/internal/e2e"
	"github.com/fleetmend/fleetmend/internal/pgschema"
	"github.com/fleetmend/fleetmend/internal/pgtest"
)

// TestSetupIsIdempotent: on a fresh PostgreSQL, Setup creates both
// databases and brings them to the server's schema versions; run again it
// finds them at those versions and changes nothing.
func TestSetupIsIdempotent(t *testing.T) {
	e2e.SkipShort(t)
	pg := pgtest.Start(t, pgtest.Options{})
	conn := config.SQL{
		ConnectAddr: pg.Addr(), User: pgtest.User, Password: pg.Password(), ConnectAttributes: map[string]string{"sslmode": "disable"},
	}
	logger := log.NewNoopLogger()
	stores := []pgschema.Store{pgschema.Persistence(conn, "fm"), pgschema.Visibility(conn, "fm_visibility")}
	for _, st := range stores {
		res, err := pgschema.Setup(st, logger)
		require.NoError(t, err)
		require.Equal(t, pgschema.Result{Database: st.SQL.DatabaseName, Before: "", After: st.Want, Created: true}, res)
	}
	for _, st := range stores {
		res, err := pgschema.Setup(st, logger)
		require.NoError(t, err)
		require.Equal(t, pgschema.Result{Database: st.SQL.DatabaseName, Before: st.Want, After: st.Want}, res)
		v, err := pgschema.Version(st, logger)
		require.NoError(t, err)
		require.Equal(t, st.Want, v)
	}

	// A wrong password is an error naming the database, not a hang.
	bad := conn
	bad.Password = "wrong"
	_, err := pgschema.Setup(pgschema.Persistence(bad, "fm"), logger)
	require.ErrorContains(t, err, "fm")
	require.NotContains(t, err.Error(), pg.Password())
}
