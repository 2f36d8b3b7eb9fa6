package ecs

import (
	"fmt"
	"regexp"
)

// The ID forms fleetmend takes as input: an ECS instance's, and a managed
// instance's, which runs report but never repair.
const (
	instanceIDPatternText = `^i-[a-z0-9]{8,30}$`
	managedIDPatternText  = `^mi-[a-z0-9]{8,30}$`
)

func instanceIDPattern() *regexp.Regexp { return regexp.MustCompile(instanceIDPatternText) }
func managedIDPattern() *regexp.Regexp  { return regexp.MustCompile(managedIDPatternText) }

// IsInstanceID says whether id has the form of an ECS instance ID.
func IsInstanceID(id string) bool { return instanceIDPattern().MatchString(id) }

// ValidateInstanceIDs checks a list of ECS instance IDs given to fleetmend
// (field names it in the error): each of the ECS form, none managed, none
// twice.
func ValidateInstanceIDs(field string, ids []string) error {
	seen := make(map[string]int, len(ids))
	pattern := instanceIDPattern()
	for i, id := range ids {
		if IsManagedInstanceID(id) {
			return fmt.Errorf("%s[%d] %q is a managed instance: fleetmend cannot repair managed instances, they are not ECS instances "+
				"(ECS cannot install the agent on or reboot them); runs report them from the region's listing", field, i, id)
		}
		if !pattern.MatchString(id) {
			return fmt.Errorf("%s[%d] %q is not an ECS instance ID (i- followed by 8..30 lowercase letters or digits)", field, i, id)
		}
		if j, dup := seen[id]; dup {
			return fmt.Errorf("%s[%d] %q repeats %s[%d]", field, i, id, field, j)
		}
		seen[id] = i
	}
	return nil
}

// ValidateAuditID checks one ID to look up in fleetmend's history: an ECS
// instance ID, or a managed instance's (mi-<8..30 lowercase letters or
// digits>), which runs report but never repair.
func ValidateAuditID(field, id string) error {
	if instanceIDPattern().MatchString(id) || managedIDPattern().MatchString(id) {
		return nil
	}
	return fmt.Errorf("%s %q is not an ECS instance ID (i- followed by 8..30 lowercase letters or digits) nor a managed instance's (mi- followed by the same)", field, id)
}
