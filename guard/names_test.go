package guard

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestNamesAreWrittenOnce walks every Go file of the module but this
// package's and the tests (which name their own runs), and fails on a
// string literal that writes a fleetmend workflow ID or a registered type
// name by hand: a type name on its own or quoted in a visibility query, a
// literal that starts an ID (fleetmend/…), or a batch or guard ID's tail.
// Those are built from this package's names only, so renaming one cannot
// leave another place behind.
func TestNamesAreWrittenOnce(t *testing.T) {
	types := []string{WorkflowType, RunWorkflowType, BatchWorkflowType, FleetWorkflowType}
	var rules []*regexp.Regexp
	for _, name := range types {
		rules = append(rules, regexp.MustCompile(`^`+name+`$`), regexp.MustCompile(`'`+name+`'`))
	}
	rules = append(rules, regexp.MustCompile(`^`+idRoot+`/`), regexp.MustCompile(`/batch-`), regexp.MustCompile(`/guard$`))
	root := filepath.Join("..")
	var found []string
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			if filepath.Clean(path) == filepath.Clean(".") || filepath.Base(path) == "guard" && filepath.Dir(path) == root {
				return filepath.SkipDir // this package defines them
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		files++
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if _, ok := n.(*ast.ImportSpec); ok {
				return false // an import path names a package, not a workflow
			}
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			v, err := strconv.Unquote(lit.Value)
			if err != nil {
				return true
			}
			for _, r := range rules {
				if r.MatchString(v) {
					found = append(found, fset.Position(lit.Pos()).String()+": "+lit.Value)
					break
				}
			}
			return true
		})
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, files, 50, "the walk reached the module's packages")
	require.Empty(t, found, "fleetmend workflow IDs and type names are built from the guard package's names, not written out")
}
