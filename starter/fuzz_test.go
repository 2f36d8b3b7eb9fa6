package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fleetmend/fleetmend/ecs"
)

// FuzzInstanceIDsFile: any file given as --instance-ids-file is read into
// IDs (comments and blank lines dropped, CRLF or LF) or refused naming the
// flag; the IDs read are then validated like the workflow does, naming the
// bad entry. Nothing panics.
func FuzzInstanceIDsFile(f *testing.F) {
	for _, s := range []string{
		"i-bp1aaaaaaaaaaaaaaaaa\n", "i-bp1aaaaaaaaaaaaaaaaa\r\ni-bp1bbbbbbbbbbbbbbbbb\r\n", "# comment\n\n", "",
		"i-bp1aaaaaaaaaaaaaaaaa # trailing comment\n", "\x00\xff\xfe", strings.Repeat("x", 70000),
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(dir, "ids.txt")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		ids, err := readIDs("", p, "--instance-ids")
		if err != nil {
			if !strings.Contains(err.Error(), "--instance-ids-file") {
				t.Fatalf("error does not name the flag: %v", err)
			}
			return
		}
		for _, id := range ids {
			if id == "" || strings.ContainsAny(id, "\n#") || strings.TrimSpace(id) != id {
				t.Fatalf("read %q from %q", id, b)
			}
		}
		if err := ecs.ValidateInstanceIDs("instance_ids", ids); err != nil && !strings.HasPrefix(err.Error(), "instance_ids[") {
			t.Fatalf("error does not name the entry: %v", err)
		}
	})
}
