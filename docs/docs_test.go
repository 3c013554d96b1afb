// Package docs holds the repository's prose documentation (protocol.md,
// architecture.md). It has no code: its tests keep the code's citations of
// protocol.md and the documents' relative links from dangling.
package docs

import (
	"bufio"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// root is the repository root, seen from this package's directory (go test
// runs a package's tests in its own directory).
const root = ".."

// heading matches a numbered section heading such as "## 5. Endpoints" (or a
// numbered subsection: "### 5.1 Register").
var heading = regexp.MustCompile(`^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s`)

// citation matches "§5", a subsection such as "§5" followed by ".1", and
// ranges such as "§3–§10" (en dash or hyphen).
var citation = regexp.MustCompile(`§(\d+(?:\.\d+)*)(?:\s*[–-]\s*§(\d+))?`)

// protocolSections returns the section numbers of docs/protocol.md.
func protocolSections(t *testing.T) map[string]bool {
	t.Helper()
	f, err := os.Open("protocol.md")
	if err != nil {
		t.Fatalf("docs/protocol.md: %v", err)
	}
	defer f.Close()
	sections := map[string]bool{}
	inFence := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		m := heading.FindStringSubmatch(line)
		if inFence || m == nil {
			continue
		}
		if sections[m[1]] {
			t.Errorf("docs/protocol.md:%d: section %s is numbered twice, so a citation of it is ambiguous", n, m[1])
		}
		sections[m[1]] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return sections
}

// goComments calls f with the text and position of every comment in the
// repository's Go files (testdata and hidden directories excluded).
func goComments(t *testing.T, f func(pos token.Position, text string)) (files int) {
	t.Helper()
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		file, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			t.Errorf("parse %s: %v", path, err)
			return nil
		}
		files++
		for _, cg := range file.Comments {
			for _, c := range cg.List {
				f(fset.Position(c.Slash), c.Text)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func rel(pos token.Position) string {
	p, err := filepath.Rel(root, pos.Filename)
	if err != nil {
		p = pos.Filename
	}
	return filepath.ToSlash(p) + ":" + strconv.Itoa(pos.Line)
}

// TestProtocolCitationsResolve: every "§N" in a Go comment names a section
// of docs/protocol.md, and no comment points at a file of notes outside the
// repository.
func TestProtocolCitationsResolve(t *testing.T) {
	sections := protocolSections(t)
	if len(sections) == 0 {
		t.Fatal("docs/protocol.md has no numbered sections")
	}
	cites, citedDocGo := 0, false
	files := goComments(t, func(pos token.Position, text string) {
		for _, m := range citation.FindAllStringSubmatch(text, -1) {
			nums := []string{m[1]}
			if m[2] != "" { // a range: every section from the first to the last
				lo, err1 := strconv.Atoi(strings.SplitN(m[1], ".", 2)[0])
				hi, err2 := strconv.Atoi(m[2])
				if err1 != nil || err2 != nil || hi < lo {
					t.Errorf("%s: unreadable range %q", rel(pos), m[0])
					continue
				}
				for n := lo + 1; n <= hi; n++ {
					nums = append(nums, strconv.Itoa(n))
				}
			}
			for _, n := range nums {
				cites++
				if !sections[n] {
					t.Errorf("%s: cites §%s, but docs/protocol.md has no section %s", rel(pos), n, n)
				}
			}
			if strings.HasPrefix(rel(pos), "agentwrit/doc.go:") {
				citedDocGo = true
			}
		}
		for _, stale := range []string{"agentwrit-protocol.md", "protocol notes"} {
			if strings.Contains(text, stale) {
				t.Errorf("%s: refers to %q, which is not in the repository; cite docs/protocol.md §N", rel(pos), stale)
			}
		}
	})
	// Guard against a walk that silently saw nothing.
	if files < 50 || cites < 50 || !citedDocGo {
		t.Fatalf("scanned %d Go files and %d citations (agentwrit/doc.go seen: %v): the walk is broken", files, cites, citedDocGo)
	}
}

// mdLink matches an inline Markdown link or image target.
var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestMarkdownLinksResolve: every relative link in README.md and docs/*.md
// names a file or directory that exists.
func TestMarkdownLinksResolve(t *testing.T) {
	docs, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	docs = append(docs, filepath.Join(root, "README.md"))
	if len(docs) < 4 {
		t.Fatalf("found only %v", docs)
	}
	for _, doc := range docs {
		raw, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mdLink.FindAllStringSubmatch(string(raw), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "#") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			if _, err := os.Stat(filepath.Join(filepath.Dir(doc), filepath.FromSlash(target))); err != nil {
				t.Errorf("%s links to %s, which does not exist", filepath.ToSlash(doc), m[1])
			}
		}
	}
}
