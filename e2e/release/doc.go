// Package release holds the end-to-end tests of what a run hands the next
// when it ends: a release says "verified" only when a poll read every
// agent it rebooted or took over (a run cancelled while it waits out
// another run's reboots, an account error during verify), and a guard
// that had to be started anew finds the region's holder among hundreds of
// other regions' open runs, and by a custom workflow ID. Judged on the
// simulator's truth.
package release
