package deploy

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/fleetmend/fleetmend/ecs"
)

// TestRAMPolicyIsOneAndGrantsWhatFleetmendCalls: ram-policy.json grants
// exactly the ECS actions fleetmend calls (reads on *, writes on
// instances), and both READMEs show exactly that file.
func TestRAMPolicyIsOneAndGrantsWhatFleetmendCalls(t *testing.T) {
	raw := readFile(t, "ram-policy.json")
	var p struct {
		Version   string
		Statement []struct {
			Effect   string
			Action   []string
			Resource string
		}
	}
	if err := json.Unmarshal([]byte(raw), &p); err != nil {
		t.Fatalf("ram-policy.json: %v", err)
	}
	var all, reads []string
	for _, st := range p.Statement {
		if st.Effect != "Allow" {
			t.Errorf("statement %+v: only Allow statements are expected", st)
		}
		for _, a := range st.Action {
			name, ok := strings.CutPrefix(a, "ecs:")
			if !ok {
				t.Errorf("action %q is not an ECS action", a)
			}
			all = append(all, name)
			if st.Resource == "*" {
				reads = append(reads, name)
			}
		}
	}
	want := ecs.ActionsFleetmendCalls()
	slices.Sort(all)
	slices.Sort(want)
	if !slices.Equal(all, want) {
		t.Errorf("the policy grants %v, fleetmend calls %v", all, want)
	}
	ro := ecs.ReadOnlyActions()
	slices.Sort(ro)
	slices.Sort(reads)
	if !slices.Equal(reads, ro) {
		t.Errorf("the statement on * grants %v; it must be exactly the reads %v (writes are limited to instances)", reads, ro)
	}
	for _, doc := range []string{"../docs/deployment.md", "README.md"} {
		if !strings.Contains(readFile(t, doc), "```json\n"+raw+"```") {
			t.Errorf("%s does not show ram-policy.json as it is", doc)
		}
	}
}
