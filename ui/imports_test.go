package ui

import (
	"go/build"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestImportGuard keeps the dependency arrows pointing down: the console
// knows the pipeline's types, never the AgentWrit client, the broker or HTTP.
func TestImportGuard(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	forbidden := []string{
		"github.com/tenantui/tenantui/agentwrit",
		"github.com/tenantui/tenantui/broker",
		"net/http",
	}
	for _, list := range []struct {
		name    string
		imports []string
	}{{"package", pkg.Imports}, {"tests", pkg.TestImports}} {
		for _, imp := range list.imports {
			for _, bad := range forbidden {
				if imp == bad || strings.HasPrefix(imp, bad+"/") {
					t.Errorf("ui %s import %s: ui must not depend on %s", list.name, imp, bad)
				}
			}
			if strings.HasPrefix(imp, "github.com/charmbracelet/bubbletea") ||
				strings.HasPrefix(imp, "github.com/charmbracelet/lipgloss") ||
				strings.HasPrefix(imp, "github.com/charmbracelet/bubbles") ||
				imp == "charm.land/lipgloss/v2/compat" {
				t.Errorf("ui %s import %s: use the charm.land v2 modules (and never lipgloss/compat)", list.name, imp)
			}
		}
	}
}

// TestStylesOnlyInStylesGo: styles and colours are created in styles.go only.
func TestStylesOnlyInStylesGo(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`lipgloss\.(NewStyle|Color)\b`)
	for _, f := range files {
		if f == "styles.go" || strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if loc := re.FindIndex(b); loc != nil {
			t.Errorf("%s:%d creates a style or colour; do it in styles.go", f, 1+strings.Count(string(b[:loc[0]]), "\n"))
		}
	}
}
