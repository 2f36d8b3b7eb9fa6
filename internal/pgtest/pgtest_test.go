package pgtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetmend/fleetmend/internal/e2e"
)

// TestNewestDebianBin: of Debian's per-version directories, the highest
// version that has the server's tools wins, compared as numbers.
func TestNewestDebianBin(t *testing.T) {
	e2e.SkipShort(t)
	root := t.TempDir()
	mk := func(version string, tools ...string) {
		dir := filepath.Join(root, version, "bin")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for _, tool := range tools {
			require.NoError(t, os.WriteFile(filepath.Join(dir, tool), nil, 0o755))
		}
	}
	all := []string{"initdb", "pg_ctl", "postgres"}
	require.Empty(t, newestDebianBin(root))
	mk("9.6", all...)
	mk("15", all...)
	mk("16", "pg_ctl") // a client-only install: no server
	mk("common", all...)
	require.Equal(t, filepath.Join(root, "15", "bin"), newestDebianBin(root))
	mk("17", all...)
	require.Equal(t, filepath.Join(root, "17", "bin"), newestDebianBin(root))
	require.Empty(t, newestDebianBin(filepath.Join(root, "missing")))
}

// TestFindBinFromEnv: FLEETMEND_POSTGRES_BIN wins, and a wrong one is an
// error naming it rather than a silent fallback.
func TestFindBinFromEnv(t *testing.T) {
	e2e.SkipShort(t)
	dir := t.TempDir()
	t.Setenv(BinEnv, dir)
	_, err := FindBin()
	require.ErrorContains(t, err, BinEnv+"="+dir)
	for _, tool := range []string{"initdb", "pg_ctl", "postgres"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, tool), nil, 0o755))
	}
	got, err := FindBin()
	require.NoError(t, err)
	require.Equal(t, dir, got)
}
