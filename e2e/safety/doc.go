// Package safety holds the end-to-end tests of the do-no-harm controls
// (churn during the scan, unanswered instances, account-level errors, the
// error budget, the short-circuit, exclusions, quarantine) and of the
// pipeline (an instance that never heals delays nobody), judged on the
// simulator's truth.
package safety
