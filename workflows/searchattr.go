package workflows

import (
	"go.temporal.io/sdk/temporal"

	"github.com/fleetmend/fleetmend/guard"
)

// Custom search attributes. Temporal's SQL visibility (SQLite, PostgreSQL,
// MySQL) allows only three custom attributes of type Int per namespace, so
// there are exactly three counts. A cluster must have them registered (devstack
// does it itself; the README shows the `temporal operator search-attribute
// create` lines). The starter sets them when it starts a run; the workflow
// keeps the counts current only if they were set, so fleetmend also works
// on a cluster where nobody registered them.
const (
	SARegionName      = guard.RegionAttribute
	SAKindName        = "FleetmendKind"
	SADryRunName      = "FleetmendDryRun"
	SAUnhealthyName   = "FleetmendUnhealthy"
	SARemediatedName  = "FleetmendRemediated"
	SAFailedName      = "FleetmendFailed"
	SAInstanceIDsName = "FleetmendInstanceIds"
	SABatchNumberName = "FleetmendBatch"
)

// Typed keys for the attributes above. Functions rather than variables,
// so there is no package-level state to share.
func SARegion() temporal.SearchAttributeKeyKeyword {
	return temporal.NewSearchAttributeKeyKeyword(SARegionName)
}
func SAKind() temporal.SearchAttributeKeyKeyword {
	return temporal.NewSearchAttributeKeyKeyword(SAKindName)
}
func SADryRun() temporal.SearchAttributeKeyBool {
	return temporal.NewSearchAttributeKeyBool(SADryRunName)
}
func SAUnhealthy() temporal.SearchAttributeKeyInt64 {
	return temporal.NewSearchAttributeKeyInt64(SAUnhealthyName)
}
func SARemediated() temporal.SearchAttributeKeyInt64 {
	return temporal.NewSearchAttributeKeyInt64(SARemediatedName)
}
func SAFailed() temporal.SearchAttributeKeyInt64 {
	return temporal.NewSearchAttributeKeyInt64(SAFailedName)
}
func SAInstanceIDs() temporal.SearchAttributeKeyKeywordList {
	return temporal.NewSearchAttributeKeyKeywordList(SAInstanceIDsName)
}

// SearchAttributeTypes lists every custom attribute with its type name as
// `temporal operator search-attribute create --type` takes it.
func SearchAttributeTypes() [][2]string {
	return [][2]string{
		{SARegionName, "Keyword"},
		{SAKindName, "Keyword"},
		{SADryRunName, "Bool"},
		{SAUnhealthyName, "Int"},
		{SARemediatedName, "Int"},
		{SAFailedName, "Int"},
		{SAInstanceIDsName, "KeywordList"},
	}
}

// RunSearchAttributes are the attributes a starter sets on a new run.
func RunSearchAttributes(region, kind string, dryRun bool) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(
		SARegion().ValueSet(region),
		SAKind().ValueSet(kind),
		SADryRun().ValueSet(dryRun),
		SAUnhealthy().ValueSet(0),
		SARemediated().ValueSet(0),
		SAFailed().ValueSet(0),
	)
}
