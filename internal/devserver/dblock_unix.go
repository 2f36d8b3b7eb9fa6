//go:build unix

package devserver

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// dbLock is an exclusive advisory lock on "<DBFile>.lock", held from Start
// to Stop.
//
// Two servers on one database would both claim the single history shard
// and keep stealing it from each other; and within one process the SQLite
// plugin would even hand them the same pooled connection. flock locks
// belong to an open file description, so the lock excludes a second server
// in this process as well as in another one (e.g. devstack started twice).
// A separate lock file is used because SQLite takes its own locks on the
// database file itself.
type dbLock struct{ f *os.File }

func lockDB(dbFile string) (*dbLock, error) {
	if dbFile == "" {
		return nil, nil
	}
	path := dbFile + ".lock"
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("devserver: open lock file %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("devserver: DB file %s is in use by another dev server (lock %s held)", dbFile, path)
		}
		return nil, fmt.Errorf("devserver: lock %s: %w", path, err)
	}
	return &dbLock{f: f}, nil
}

// release drops the lock. The lock file itself stays: deleting it could let
// a waiting locker and a new one lock different files.
func (l *dbLock) release() error {
	if l == nil {
		return nil
	}
	// Closing the only descriptor releases the flock.
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("devserver: release DB lock: %w", err)
	}
	return nil
}
