// Package fleet holds the end-to-end tests of fleet runs (one command,
// many regions) through the real starter binary: a run over every region
// of a three-region simulator where one region is busy with another run
// and one refuses the worker's credentials, and a schedule over two
// regions that fires twice. Judged on the simulator's truth.
package fleet
