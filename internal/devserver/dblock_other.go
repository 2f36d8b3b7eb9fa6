//go:build !unix

package devserver

// dbLock is a no-op where flock is unavailable: there, nothing stops two
// servers from sharing a DB file (see dblock_unix.go for why that is bad).
type dbLock struct{}

func lockDB(string) (*dbLock, error) { return nil, nil }

func (l *dbLock) release() error { return nil }
