// Package docs holds fleetmend's reference documentation (the Markdown
// pages beside this file) and the test that keeps it honest: every flag of
// every binary is documented, and every link between the pages resolves.
package docs
