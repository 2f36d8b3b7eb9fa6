package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fleetmend/fleetmend/internal/temporalcfg"
	"github.com/fleetmend/fleetmend/workflows"
)

// fakeTool writes an executable named name into dir that appends its
// arguments as one line to log and exits with the status the shell case
// statement cases picks for them (0 when none matches).
func fakeTool(t *testing.T, dir, name, log, cases string) {
	t.Helper()
	script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %q\ncase \"$*\" in\n%s\nesac\nexit 0\n", log, cases)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// runScript runs deploy/scripts/<script> with sh, the fake tools in bin
// first on PATH, and env (plus no pauses between retries).
func runScript(t *testing.T, script, bin string, env map[string]string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", filepath.Join("scripts", script))
	cmd.Env = []string{"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"), "SETUP_PAUSE_SECONDS=0"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func logLines(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// TestScriptsParse: every script is valid POSIX sh syntax.
func TestScriptsParse(t *testing.T) {
	scripts, err := filepath.Glob("scripts/*.sh")
	if err != nil || len(scripts) == 0 {
		t.Fatalf("no scripts found: %v", err)
	}
	for _, s := range scripts {
		if out, err := exec.Command("sh", "-n", s).CombinedOutput(); err != nil {
			t.Errorf("sh -n %s: %v\n%s", s, err, out)
		}
	}
}

// TestSetupScript runs temporal-setup.sh with the environment the compose
// file gives it and a fake `temporal` CLI: it must create the missing
// namespace and register every search attribute of package workflows.
func TestSetupScript(t *testing.T) {
	env := loadConfig(t, nil).Services["temporal-setup"].Environment
	addr, ns := env["TEMPORAL_ADDRESS"], env["TEMPORAL_NAMESPACE"]

	t.Run("creates-and-registers", func(t *testing.T) {
		bin := t.TempDir()
		log := filepath.Join(bin, "calls.log")
		// The namespace does not exist yet.
		fakeTool(t, bin, "temporal", log, `"operator namespace describe "*) exit 1 ;;`)
		if out, err := runScript(t, "temporal-setup.sh", bin, env); err != nil {
			t.Fatalf("temporal-setup.sh: %v\n%s", err, out)
		}
		calls := logLines(t, log)
		want := []string{
			fmt.Sprintf("operator cluster health --address %s", addr),
			fmt.Sprintf("operator namespace create --address %s --namespace %s --retention %s", addr, ns, env["NAMESPACE_RETENTION"]),
		}
		for _, sa := range workflows.SearchAttributeTypes() {
			want = append(want, fmt.Sprintf("operator search-attribute create --address %s --namespace %s --name %s --type %s", addr, ns, sa[0], sa[1]))
		}
		want = append(want, fmt.Sprintf("workflow list --address %s --namespace %s --limit 1", addr, ns))
		for _, w := range want {
			if !slices.Contains(calls, w) {
				t.Errorf("temporal-setup.sh never ran `temporal %s`; calls:\n%s", w, strings.Join(calls, "\n"))
			}
		}
	})

	t.Run("keeps-existing-namespace", func(t *testing.T) {
		bin := t.TempDir()
		log := filepath.Join(bin, "calls.log")
		fakeTool(t, bin, "temporal", log, "")
		if out, err := runScript(t, "temporal-setup.sh", bin, env); err != nil {
			t.Fatalf("temporal-setup.sh: %v\n%s", err, out)
		}
		for _, c := range logLines(t, log) {
			if strings.HasPrefix(c, "operator namespace create") {
				t.Errorf("an existing namespace was created again: %s", c)
			}
		}
	})

	t.Run("gives-up", func(t *testing.T) {
		bin := t.TempDir()
		log := filepath.Join(bin, "calls.log")
		fakeTool(t, bin, "temporal", log, `*) echo "connection refused" >&2; exit 1 ;;`)
		e := map[string]string{"SETUP_ATTEMPTS": "3"}
		for k, v := range env {
			e[k] = v
		}
		out, err := runScript(t, "temporal-setup.sh", bin, e)
		if err == nil {
			t.Fatalf("temporal-setup.sh succeeded against a frontend that never answers:\n%s", out)
		}
		if n := len(logLines(t, log)); n != 3 {
			t.Errorf("%d attempts, want 3", n)
		}
		if !strings.Contains(out, "connection refused") {
			t.Errorf("the last error is not shown:\n%s", out)
		}
	})

	t.Run("rejects-malformed-attribute", func(t *testing.T) {
		bin := t.TempDir()
		fakeTool(t, bin, "temporal", filepath.Join(bin, "calls.log"), "")
		e := map[string]string{}
		for k, v := range env {
			e[k] = v
		}
		e["SEARCH_ATTRIBUTES"] = "FleetmendRegion=Keyword FleetmendKind"
		if out, err := runScript(t, "temporal-setup.sh", bin, e); err == nil {
			t.Fatalf("temporal-setup.sh accepted an attribute without a type:\n%s", out)
		}
	})
}

// TestSchemaScript runs temporal-schema.sh with the environment the compose
// file gives it and a fake temporal-sql-tool: both databases are created,
// versioned and migrated from the admin-tools image's schema directory.
func TestSchemaScript(t *testing.T) {
	env := loadConfig(t, nil).Services["temporal-schema"].Environment
	if env["SQL_PLUGIN"] != "postgres12" {
		t.Errorf("SQL_PLUGIN = %q, want postgres12 (the plugin the server uses: DB=postgres12)", env["SQL_PLUGIN"])
	}
	bin := t.TempDir()
	log := filepath.Join(bin, "calls.log")
	fakeTool(t, bin, "temporal-sql-tool", log, "")
	if out, err := runScript(t, "temporal-schema.sh", bin, env); err != nil {
		t.Fatalf("temporal-schema.sh: %v\n%s", err, out)
	}
	// The databases and schema directories of internal/temporalcfg, as
	// the cluster test sets them up with the server module's own files.
	dir := temporalcfg.AdminToolsSchemaRoot + "/" + temporalcfg.SchemaDir
	var want []string
	for _, db := range [][2]string{{temporalcfg.Database, temporalcfg.PersistenceSchema}, {temporalcfg.VisibilityDatabase, temporalcfg.VisibilitySchema}} {
		want = append(want,
			"--db "+db[0]+" create",
			"--db "+db[0]+" setup-schema -v 0.0",
			"--db "+db[0]+" update-schema -d "+dir+"/"+db[1]+"/versioned")
	}
	if got := logLines(t, log); !slices.Equal(got, want) {
		t.Errorf("temporal-sql-tool calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
