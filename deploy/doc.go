// Package deploy holds no code: it is where the tests of fleetmend's
// self-hosted stack live. The stack is docker-compose.yml and Dockerfile at
// the top of the repository, with the scripts and the Temporal dynamic
// configuration they use in this directory; README.md here says how to run it.
//
// The tests check the stack at the configuration level (no Docker engine is
// needed): compose-go, the loader the Compose CLI is built on, must accept
// the file with every profile (in-process: no docker-compose binary), every
// image must be pinned, the services, profiles and start order must be the
// documented ones, the setup job must register exactly the search attributes
// of package workflows, the Temporal server and its schema and setup jobs
// must run with internal/temporalcfg's settings (those the cluster test,
// e2e/cluster, runs the server with), and the Dockerfile must build the
// binaries with the Go version go.mod names. Only sh is needed besides Go (to run the scripts
// against fake tools).
package deploy
