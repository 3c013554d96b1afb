package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// tourDirs are fresh data and reports directories for one tour run.
func tourDirs(t *testing.T) []string {
	d := t.TempDir()
	return []string{"--data", filepath.Join(d, "data"), "--reports", filepath.Join(d, "reports")}
}

// TestTourSolveBuiltins replays every built-in lesson's solution against the
// real runner and the embedded broker (on a virtual clock) and checks its
// expectations: what CI runs with `tenantui tour --solve`.
func TestTourSolveBuiltins(t *testing.T) {
	clearEnv(t)
	code, out, errOut := runCLI(t, append([]string{"tour", "--solve"}, tourDirs(t)...)...)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 10 || lines[9] != "9 lessons: 9 passed" {
		t.Fatalf("output:\n%s", out)
	}
	for i, l := range lines[:9] {
		if !regexp.MustCompile(`^✓ \d/9 lessons/0\d-[a-z-]+\.md  \S`).MatchString(l) {
			t.Errorf("line %d: %q", i+1, l)
		}
	}
}

func writeLessons(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const goodLesson = "# Create an agent\n\nPress enter.\n\n```keys\nEnter\n```\n\n```expect\nagent hospital active\nstage hospital create done\n```\n"

// TestTourSolveFailingLesson: a lesson whose expectation is wrong fails with
// the unmet condition and what really happened; the next lesson is still
// checked; the exit code is 1.
func TestTourSolveFailingLesson(t *testing.T) {
	clearEnv(t)
	dir := writeLessons(t, map[string]string{
		"01-create.md": goodLesson,
		"02-wrong.md": "# Wrong\n\nThe hospital reads the bank.\n\n```keys\nType \"x\"\nEnter\n```\n\n" +
			"```expect\ndecision hospital bank read deny local\ndecision hospital bank read allow store\n```\n",
		"03-expire.md": "# Expiry\n\nWait.\n\n```setup\nttl 3\n```\n\n```keys\nEnter\nSleep 4s\n```\n\n```expect\nagent hospital expired\n```\n",
	})
	code, out, errOut := runCLI(t, append([]string{"tour", "--solve", "--lessons", dir}, tourDirs(t)...)...)
	if code != 1 || errOut != "" {
		t.Fatalf("exit %d (want 1), stderr %q, stdout:\n%s", code, errOut, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("output:\n%s", out)
	}
	if !strings.HasPrefix(lines[0], "✓ 1/3 ") || !strings.HasPrefix(lines[2], "✓ 3/3 ") {
		t.Errorf("the good lessons: %q, %q", lines[0], lines[2])
	}
	want := "02-wrong.md  Wrong: line 12: decision hospital bank read allow store — not yet: hospital agent → bank read analytics: ALLOW at the store (the last one was DENY at the store: "
	if !strings.HasPrefix(lines[1], "✗ 2/3 ") || !strings.Contains(lines[1], want) {
		t.Errorf("the failing lesson: %q\nwant it to contain %q", lines[1], want)
	}
	if lines[3] != "3 lessons: 2 passed" {
		t.Errorf("summary %q", lines[3])
	}
}

// TestTourBadInput: malformed lessons and bad flags are one line and exit 2.
func TestTourBadInput(t *testing.T) {
	clearEnv(t)
	cases := []struct {
		name  string
		files map[string]string
		args  []string
		want  string
	}{
		{"unknown key", map[string]string{"01.md": strings.Replace(goodLesson, "Enter", "Press", 1)}, nil, `01.md:6: unknown key command "Press"`},
		{"unknown condition", map[string]string{"01.md": strings.Replace(goodLesson, "agent hospital active", "tenant hospital ok", 1)}, nil, `01.md:10: unknown condition "tenant"`},
		{"missing block", map[string]string{"01.md": "# T\n\nNarrative.\n\n```keys\nEnter\n```\n"}, nil, "01.md:8: missing expect block"},
		{"unknown tenant", map[string]string{"01.md": strings.Replace(goodLesson, "agent hospital", "agent clinic", 1)}, nil, `01.md:10: unknown tenant "clinic" (catalog: hospital, bank, retail)`},
		{"no lessons", map[string]string{"notes.txt": "x"}, nil, "no *.md lesson files"},
		{"auto-renew", map[string]string{"01.md": goodLesson}, []string{"--auto-renew"}, "--auto-renew does not apply to the tour"},
		{"bad flag", map[string]string{"01.md": goodLesson}, []string{"--ttl", "0"}, "--ttl must be between"},
		{"not a terminal", map[string]string{"01.md": goodLesson}, []string{"--no-solve"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeLessons(t, c.files)
			args := append([]string{"tour", "--lessons", dir, "--solve"}, c.args...)
			if c.name == "not a terminal" {
				args = []string{"tour", "--lessons", dir}
				c.want = "not a terminal: the tour needs an interactive TTY"
			}
			code, out, errOut := runCLI(t, append(args, tourDirs(t)...)...)
			if code != 2 || out != "" {
				t.Fatalf("exit %d (want 2), stdout %q", code, out)
			}
			if strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, c.want) || !strings.HasPrefix(errOut, "tenantui: ") {
				t.Errorf("stderr %q: want one line containing %q", errOut, c.want)
			}
		})
	}
}

// TestLessonsDocExample solves the complete example of docs/lessons.md, so
// the documentation cannot drift from the format.
func TestLessonsDocExample(t *testing.T) {
	clearEnv(t)
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "lessons.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "````markdown\n")
	example, _, ok2 := strings.Cut(rest, "\n````")
	if !ok || !ok2 {
		t.Fatal("docs/lessons.md has no ````markdown example")
	}
	dir := writeLessons(t, map[string]string{"01-expiry.md": example + "\n"})
	code, out, errOut := runCLI(t, append([]string{"tour", "--solve", "--lessons", dir}, tourDirs(t)...)...)
	if code != 0 || errOut != "" || !strings.HasSuffix(out, "1 lessons: 1 passed\n") {
		t.Fatalf("exit %d, stderr %q, stdout:\n%s", code, errOut, out)
	}
}
