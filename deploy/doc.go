// Package deploy holds no code: it is where the tests of fleetmend's
// self-hosted stack live. The stack is docker-compose.yml and Dockerfile at
// the top of the repository, with the scripts and the Temporal dynamic
// configuration they use in this directory; README.md here says how to run it.
//
// The tests check the stack at the configuration level (no Docker engine is
// needed): docker-compose must accept the file with every profile, every
// image must be pinned, the services, profiles and start order must be the
// documented ones, the setup job must register exactly the search attributes
// of package workflows, and the Dockerfile must build the binaries with the
// Go version go.mod names. They need the docker-compose binary (v1.29 or
// later) and fail without it.
package deploy
