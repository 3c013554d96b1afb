package tour

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tenantui/tenantui/pipeline"
)

// lessonSrc is a well-formed lesson with blocks given by the caller.
func lessonSrc(blocks ...string) string {
	return "# Title\n\nNarrative.\n\n" + strings.Join(blocks, "\n")
}

func block(info string, lines ...string) string {
	return "```" + info + "\n" + strings.Join(lines, "\n") + "\n```\n"
}

func TestParseComplete(t *testing.T) {
	src := "\n# One app, many agents\n\nThe **platform** logs in once.\n\n- a list\n\n" +
		block("setup", "fresh", "ttl 8") + "\n" +
		block("keys", "# a comment", "Type \"x\"", "", "Enter") +
		block("expect", "agent hospital active") +
		"\nAfterwards: the explanation.\n"
	l, err := Parse("01.md", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if l.Title != "One app, many agents" || l.File != "01.md" {
		t.Errorf("title %q file %q", l.Title, l.File)
	}
	if l.Narrative != "The **platform** logs in once.\n\n- a list" {
		t.Errorf("narrative %q", l.Narrative)
	}
	if l.After != "Afterwards: the explanation." {
		t.Errorf("after %q", l.After)
	}
	if !l.Setup.Fresh || l.Setup.TTL != 8*time.Second || l.Setup.Line != 8 {
		t.Errorf("setup %+v", l.Setup)
	}
	if len(l.Keys) != 2 || l.Keys[0].Line != 15 || l.Keys[1].Line != 17 {
		t.Errorf("keys %+v (comments and blank lines are skipped, lines counted)", l.Keys)
	}
	if len(l.Expect) != 1 || l.Expect[0].Line != 20 {
		t.Errorf("expect %+v", l.Expect)
	}
}

func TestParseEveryKeyCommand(t *testing.T) {
	cases := []struct {
		line string
		want Key
	}{
		{`Type "x"`, Key{Cmd: KeyType, Text: "x"}},
		{`Type "xa b"`, Key{Cmd: KeyType, Text: "xa b"}},
		{"Type `A`", Key{Cmd: KeyType, Text: "A"}},
		{`Type 'u'`, Key{Cmd: KeyType, Text: "u"}},
		{"Enter", Key{Cmd: KeyEnter, Count: 1}},
		{"Escape", Key{Cmd: KeyEscape, Count: 1}},
		{"Tab", Key{Cmd: KeyTab, Count: 1}},
		{"Space", Key{Cmd: KeySpace, Count: 1}},
		{"Up", Key{Cmd: KeyUp, Count: 1}},
		{"Down 2", Key{Cmd: KeyDown, Count: 2}},
		{"Left", Key{Cmd: KeyLeft, Count: 1}},
		{"Right", Key{Cmd: KeyRight, Count: 1}},
		{"Backspace 3", Key{Cmd: KeyBackspace, Count: 3}},
		{"Sleep 2s", Key{Cmd: KeySleep, Sleep: 2 * time.Second}},
		{"Sleep 500ms", Key{Cmd: KeySleep, Sleep: 500 * time.Millisecond}},
		{"Sleep 1.5", Key{Cmd: KeySleep, Sleep: 1500 * time.Millisecond}},
	}
	for _, c := range cases {
		l, err := Parse("k.md", []byte(lessonSrc(block("keys", c.line), block("expect", "audit verified"))))
		if err != nil {
			t.Errorf("%s: %v", c.line, err)
			continue
		}
		got := l.Keys[0]
		got.Line = 0
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.line, got, c.want)
		}
	}
}

func TestParseEveryCondition(t *testing.T) {
	cases := []struct {
		line string
		want Cond
	}{
		{"agent hospital none", Cond{Kind: CondAgent, Tenant: "hospital", State: pipeline.AgentNone}},
		{"agent hospital active", Cond{Kind: CondAgent, Tenant: "hospital", State: pipeline.AgentActive}},
		{"agent bank released", Cond{Kind: CondAgent, Tenant: "bank", State: pipeline.AgentReleased}},
		{"agent bank expired", Cond{Kind: CondAgent, Tenant: "bank", State: pipeline.AgentExpired}},
		{"agent retail revoked", Cond{Kind: CondAgent, Tenant: "retail", State: pipeline.AgentRevoked}},
		{"stage hospital create done", Cond{Kind: CondStage, Tenant: "hospital", Stage: pipeline.StageCreate}},
		{"stage hospital extract failed", Cond{Kind: CondStage, Tenant: "hospital", Stage: pipeline.StageExtract, Failed: true}},
		{"stage hospital transform done", Cond{Kind: CondStage, Tenant: "hospital", Stage: pipeline.StageTransform}},
		{"stage hospital load done", Cond{Kind: CondStage, Tenant: "hospital", Stage: pipeline.StageLoad}},
		{"stage hospital release done", Cond{Kind: CondStage, Tenant: "hospital", Stage: pipeline.StageRelease}},
		{"decision hospital bank read deny", Cond{Kind: CondDecision, Tenant: "hospital", Target: "bank", Op: pipeline.OpRead}},
		{"decision hospital bank write allow local", Cond{Kind: CondDecision, Tenant: "hospital", Target: "bank", Op: pipeline.OpWrite, Allow: true, Layer: pipeline.LayerLocal}},
		{"decision a b read deny store", Cond{Kind: CondDecision, Tenant: "a", Target: "b", Op: pipeline.OpRead, Layer: pipeline.LayerStore}},
		{"decision a b read deny broker", Cond{Kind: CondDecision, Tenant: "a", Target: "b", Op: pipeline.OpRead, Layer: pipeline.LayerBroker}},
		{"isolation verified", Cond{Kind: CondIsolation, Allow: true}},
		{"isolation failed", Cond{Kind: CondIsolation}},
		{"report bank", Cond{Kind: CondReport, Tenant: "bank"}},
		{"audit verified", Cond{Kind: CondAudit}},
	}
	for _, c := range cases {
		l, err := Parse("e.md", []byte(lessonSrc(block("keys", "Enter"), block("expect", c.line))))
		if err != nil {
			t.Errorf("%s: %v", c.line, err)
			continue
		}
		got := l.Expect[0]
		got.Line = 0
		if got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.line, got, c.want)
		}
		if s := got.String(); s != c.line {
			t.Errorf("%s: String() = %q", c.line, s)
		}
	}
}

func TestParseMalformed(t *testing.T) {
	keys, expect := block("keys", "Enter"), block("expect", "audit verified")
	cases := []struct {
		name, src string
		line      int
		msg       string
	}{
		{"no title", "Narrative only.\n", 1, "text before the title"},
		{"empty file", "", 1, "no title"},
		{"empty title", "# \n", 1, "empty title"},
		{"no narrative", "# T\n" + keys + expect, 1, "no narrative"},
		{"block before title", block("keys", "Enter"), 1, "before the title"},
		{"missing keys", lessonSrc(expect), 8, "missing keys block"},
		{"missing expect", lessonSrc(keys), 8, "missing expect block"},
		{"empty keys", lessonSrc(block("keys", "# only a comment"), expect), 5, "empty keys block"},
		{"empty expect", lessonSrc(keys, block("expect", "")), 9, "empty expect block"},
		{"unknown block", lessonSrc(keys, expect, block("yaml", "a: b")), 13, `unknown block "yaml"`},
		{"no info string", lessonSrc(keys, expect, block("", "x")), 13, "without an info string"},
		{"duplicate block", lessonSrc(keys, keys, expect), 9, `a second "keys" block (the first is at line 5)`},
		{"unterminated", lessonSrc(keys, "```expect\naudit verified\n"), 9, "unterminated"},
		{"unknown key", lessonSrc(block("keys", "Enter", "Press x"), expect), 7, `unknown key command "Press"`},
		{"ctrl is not a lesson key", lessonSrc(block("keys", "Ctrl+C"), expect), 6, `unknown key command "Ctrl+C"`},
		{"unquoted type", lessonSrc(block("keys", "Type x"), expect), 6, "Type needs one quoted string"},
		{"type without text", lessonSrc(block("keys", "Type"), expect), 6, "Type needs one quoted string"},
		{"type empty", lessonSrc(block("keys", `Type ""`), expect), 6, "types nothing"},
		{"bad count", lessonSrc(block("keys", "Down two"), expect), 6, "repeat count"},
		{"zero count", lessonSrc(block("keys", "Down 0"), expect), 6, "repeat count"},
		{"sleep without duration", lessonSrc(block("keys", "Sleep"), expect), 6, "Sleep needs a duration"},
		{"sleep bad duration", lessonSrc(block("keys", "Sleep soon"), expect), 6, "not a duration"},
		{"sleep too long", lessonSrc(block("keys", "Sleep 11m"), expect), 6, "at most 10m0s"},
		{"unknown condition", lessonSrc(keys, block("expect", "agent hospital active", "tenant hospital ok")), 11, `unknown condition "tenant"`},
		{"agent arity", lessonSrc(keys, block("expect", "agent hospital")), 10, "wrong number of words"},
		{"agent state", lessonSrc(keys, block("expect", "agent hospital alive")), 10, `unknown agent state "alive"`},
		{"bad tenant id", lessonSrc(keys, block("expect", "agent Hospital active")), 10, `"Hospital" is not a tenant id`},
		{"stage arity", lessonSrc(keys, block("expect", "stage hospital load")), 10, "wrong number of words"},
		{"stage name", lessonSrc(keys, block("expect", "stage hospital publish done")), 10, `unknown stage "publish"`},
		{"stage outcome", lessonSrc(keys, block("expect", "stage hospital load ok")), 10, "neither done nor failed"},
		{"decision arity", lessonSrc(keys, block("expect", "decision hospital bank read")), 10, "wrong number of words"},
		{"decision op", lessonSrc(keys, block("expect", "decision hospital bank delete deny")), 10, `unknown operation "delete"`},
		{"decision verdict", lessonSrc(keys, block("expect", "decision hospital bank read refuse")), 10, "neither allow nor deny"},
		{"decision layer", lessonSrc(keys, block("expect", "decision hospital bank read deny network")), 10, `unknown layer "network"`},
		{"isolation", lessonSrc(keys, block("expect", "isolation ok")), 10, "want verified or failed"},
		{"report arity", lessonSrc(keys, block("expect", "report")), 10, "wrong number of words"},
		{"audit", lessonSrc(keys, block("expect", "audit broken")), 10, "want verified"},
		{"unknown setup", lessonSrc(block("setup", "reset"), keys, expect), 6, `unknown setup "reset"`},
		{"fresh with argument", lessonSrc(block("setup", "fresh now"), keys, expect), 6, "fresh takes no argument"},
		{"ttl missing", lessonSrc(block("setup", "ttl"), keys, expect), 6, "ttl needs"},
		{"ttl not a number", lessonSrc(block("setup", "ttl 5s"), keys, expect), 6, "whole seconds"},
		{"ttl zero", lessonSrc(block("setup", "ttl 0"), keys, expect), 6, "whole seconds"},
		{"ttl twice", lessonSrc(block("setup", "ttl 5", "ttl 6"), keys, expect), 7, "a second ttl"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("bad.md", []byte(c.src))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v, want a *SyntaxError", err)
			}
			if se.Line != c.line || !strings.Contains(se.Msg, c.msg) {
				t.Errorf("got %q, want line %d containing %q", err, c.line, c.msg)
			}
			if s := err.Error(); strings.Contains(s, "\n") || !strings.HasPrefix(s, "bad.md:") {
				t.Errorf("error %q is not one line naming the file", s)
			}
		})
	}
}

func TestCheckTenants(t *testing.T) {
	l, err := Parse("t.md", []byte(lessonSrc(block("keys", "Enter"), block("expect", "agent hospital active", "decision hospital clinic read deny"))))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.CheckTenants([]string{"hospital", "clinic"}); err != nil {
		t.Errorf("known tenants: %v", err)
	}
	err = l.CheckTenants([]string{"hospital", "bank"})
	if err == nil || err.Error() != `t.md:11: unknown tenant "clinic" (catalog: hospital, bank)` {
		t.Errorf("unknown tenant: %v", err)
	}
	if got := strings.Join(l.Tenants(), ","); got != "hospital,clinic" {
		t.Errorf("Tenants() = %s", got)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	good := lessonSrc(block("keys", "Enter"), block("expect", "audit verified"))
	for name, src := range map[string]string{"02-b.md": good, "01-a.md": strings.Replace(good, "Title", "First", 1), "notes.txt": "ignored"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].Title != "First" || !strings.HasSuffix(ls[1].File, "02-b.md") {
		t.Fatalf("lessons %+v: want 01-a.md then 02-b.md", ls)
	}
	os.WriteFile(filepath.Join(dir, "03-c.md"), []byte("# C\n\nx\n```keys\nJump\n```\n"), 0o644)
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "03-c.md:5: unknown key command") {
		t.Errorf("malformed file: %v", err)
	}
	if _, err := LoadDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no *.md lesson files") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestKeyHint(t *testing.T) {
	for _, c := range []struct {
		k    Key
		want string
	}{
		{Key{Cmd: KeyType, Text: "xi"}, "x i"}, {Key{Cmd: KeyDown, Count: 2}, "↓ ×2"}, {Key{Cmd: KeyEnter, Count: 1}, "enter"},
		{Key{Cmd: KeySleep, Sleep: time.Second}, ""},
	} {
		if got := c.k.Hint(); got != c.want {
			t.Errorf("%v: Hint() = %q, want %q", c.k, got, c.want)
		}
	}
}
