// Package rollout holds the end-to-end tests of the progressive rollout:
// a canary that stops a repair that does not heal, the threshold that
// decides the canary, the pause for approval after it, and agents that
// report once and go silent. Judged on the simulator's truth.
package rollout
