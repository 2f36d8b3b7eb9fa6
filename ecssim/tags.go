package ecssim

import (
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"
)

// checkTag applies ECS's limits on one tag: a non-empty key, key and value
// within their lengths.
func checkTag(key, value string) error {
	if key == "" {
		return fmt.Errorf("tag key must not be empty")
	}
	if n := utf8.RuneCountInString(key); n > MaxTagKeyLength {
		return fmt.Errorf("tag key %q has %d characters, at most %d allowed", key, n, MaxTagKeyLength)
	}
	if n := utf8.RuneCountInString(value); n > MaxTagValueLength {
		return fmt.Errorf("value of tag %q has %d characters, at most %d allowed", key, n, MaxTagValueLength)
	}
	return nil
}

// checkTags validates a whole tag set.
func checkTags(tags map[string]string) error {
	if len(tags) > MaxTagsPerInstance {
		return fmt.Errorf("%d tags, at most %d allowed per instance", len(tags), MaxTagsPerInstance)
	}
	for _, k := range slices.Sorted(maps.Keys(tags)) { // sorted: the first error must not depend on map order
		if err := checkTag(k, tags[k]); err != nil {
			return err
		}
	}
	return nil
}

// SetTag sets the tag key=value on the instance (replacing the value of an
// existing key), as TagResources would.
func (s *Sim) SetTag(id, key, value string) error {
	if err := checkTag(key, value); err != nil {
		return fmt.Errorf("ecssim: set tag on %q: %w", id, err)
	}
	return s.modify(id, func(in *instance, _ time.Time) error {
		if _, exists := in.tags[key]; !exists && len(in.tags) >= MaxTagsPerInstance {
			return fmt.Errorf("ecssim: set tag on %q: it has %d tags already, at most %d allowed", id, len(in.tags), MaxTagsPerInstance)
		}
		if in.tags == nil {
			in.tags = make(map[string]string, 1)
		}
		in.tags[key] = value
		return nil
	})
}

// RemoveTag removes the tag key from the instance; removing a tag it does
// not have is not an error (UntagResources behaves the same).
func (s *Sim) RemoveTag(id, key string) error {
	return s.modify(id, func(in *instance, _ time.Time) error {
		delete(in.tags, key)
		if len(in.tags) == 0 {
			in.tags = nil
		}
		return nil
	})
}

// hasTags reports whether in carries every wanted tag, each value matched
// exactly, or any value when the filter named only the key.
func (in *instance) hasTags(wanted []tagFilter) bool {
	for _, w := range wanted {
		v, ok := in.tags[w.key]
		if !ok || (!w.anyValue && v != w.value) {
			return false
		}
	}
	return true
}

// tagFilter is one Tag.N of a request.
type tagFilter struct {
	key, value string
	anyValue   bool // Tag.N.Key given without Tag.N.Value
}
