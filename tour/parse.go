package tour

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tenantui/tenantui/pipeline"
)

// SyntaxError is a malformed lesson: one line naming the file and the line.
type SyntaxError struct {
	File string
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// Limits of a lesson's values.
const (
	MaxSleep = 10 * time.Minute
	MaxTTL   = 86400 * time.Second
	maxCount = 99
)

//go:embed lessons/*.md
var builtin embed.FS

// Builtin returns the built-in lessons, in order. They are embedded in the
// binary and parsed on each call; a malformed one is a bug (the tests parse
// them all).
func Builtin() ([]Lesson, error) {
	return loadFS(builtin, "lessons", "lessons/")
}

// LoadDir parses the *.md files of dir in lexical order. The first
// malformed file stops the load with its *SyntaxError.
func LoadDir(dir string) ([]Lesson, error) {
	ls, err := loadFS(os.DirFS(dir), ".", filepath.Clean(dir)+string(filepath.Separator))
	if err != nil {
		return nil, err
	}
	if len(ls) == 0 {
		return nil, fmt.Errorf("%s: no *.md lesson files", dir)
	}
	return ls, nil
}

func loadFS(fsys fs.FS, dir, prefix string) ([]Lesson, error) {
	names, err := fs.Glob(fsys, path(dir, "*.md"))
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []Lesson
	for _, n := range names {
		src, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		l, err := Parse(prefix+strings.TrimPrefix(n, dir+"/"), src)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, nil
}

func path(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// Parse parses one lesson file; name is used in errors.
func Parse(name string, src []byte) (Lesson, error) {
	l := Lesson{File: name}
	lines := strings.Split(strings.ReplaceAll(string(src), "\r\n", "\n"), "\n")
	errAt := func(line int, format string, a ...any) error {
		return &SyntaxError{File: name, Line: line, Msg: fmt.Sprintf(format, a...)}
	}
	titleLine := 0
	var narrative, after []string
	seen := map[string]int{}
	for i := 0; i < len(lines); i++ {
		ln, text := i+1, lines[i]
		if fence, info, ok := openFence(text); ok {
			if titleLine == 0 {
				return l, errAt(ln, "a fenced block before the title (the first line starting with \"# \")")
			}
			end := -1
			for j := i + 1; j < len(lines); j++ {
				if closesFence(lines[j], fence) {
					end = j
					break
				}
			}
			if end < 0 {
				return l, errAt(ln, "unterminated %q block: no closing %s", info, fence)
			}
			if prev, dup := seen[info]; dup {
				return l, errAt(ln, "a second %q block (the first is at line %d)", info, prev)
			}
			seen[info] = ln
			body := lines[i+1 : end]
			var err error
			switch info {
			case "keys":
				l.Keys, err = parseKeys(name, ln+1, body)
				if err == nil && len(l.Keys) == 0 {
					err = errAt(ln, "empty keys block: write the lesson's solution, one tape command a line")
				}
			case "expect":
				l.Expect, err = parseExpect(name, ln+1, body)
				if err == nil && len(l.Expect) == 0 {
					err = errAt(ln, "empty expect block: list at least one condition")
				}
			case "setup":
				l.Setup, err = parseSetup(name, ln+1, body)
				l.Setup.Line = ln
			case "":
				err = errAt(ln, "a fenced block without an info string (want keys, expect or setup)")
			default:
				err = errAt(ln, "unknown block %q (want keys, expect or setup)", info)
			}
			if err != nil {
				return l, err
			}
			i = end
			continue
		}
		switch {
		case titleLine == 0 && strings.HasPrefix(text, "# "):
			titleLine = ln
			l.Title = strings.TrimSpace(text[2:])
			if l.Title == "" {
				return l, errAt(ln, "empty title")
			}
		case titleLine == 0:
			if strings.TrimSpace(text) != "" {
				return l, errAt(ln, "text before the title: a lesson starts with its \"# \" heading")
			}
		case len(seen) == 0:
			narrative = append(narrative, text)
		default:
			after = append(after, text)
		}
	}
	if titleLine == 0 {
		return l, errAt(1, "no title: the first line starting with \"# \" is the lesson's title")
	}
	l.Narrative = strings.TrimSpace(strings.Join(narrative, "\n"))
	l.After = strings.TrimSpace(strings.Join(after, "\n"))
	if l.Narrative == "" {
		return l, errAt(titleLine, "no narrative: write what the lesson teaches between the title and the first block")
	}
	if _, ok := seen["keys"]; !ok {
		return l, errAt(len(lines), "missing keys block (the lesson's solution, in VHS tape commands)")
	}
	if _, ok := seen["expect"]; !ok {
		return l, errAt(len(lines), "missing expect block (the conditions that must hold after the solution)")
	}
	return l, nil
}

// openFence reports whether line opens a fenced block: its fence (``` or
// ~~~, or longer) and its info string.
func openFence(line string) (fence, info string, ok bool) {
	for _, c := range []string{"`", "~"} {
		n := 0
		for n < len(line) && line[n:n+1] == c {
			n++
		}
		if n >= 3 {
			return line[:n], strings.TrimSpace(line[n:]), true
		}
	}
	return "", "", false
}

func closesFence(line, fence string) bool {
	t := strings.TrimRight(line, " \t")
	return len(t) >= len(fence) && strings.Trim(t, fence[:1]) == "" && t[:1] == fence[:1]
}

// lineFields yields the meaningful lines of a block: blank lines and
// "# comments" are skipped.
func blockLines(first int, body []string, f func(ln int, text string) error) error {
	for k, raw := range body {
		text := strings.TrimSpace(raw)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		if err := f(first+k, text); err != nil {
			return err
		}
	}
	return nil
}

func parseKeys(name string, first int, body []string) ([]Key, error) {
	var keys []Key
	err := blockLines(first, body, func(ln int, text string) error {
		bad := func(format string, a ...any) error {
			return &SyntaxError{File: name, Line: ln, Msg: fmt.Sprintf(format, a...)}
		}
		cmd, rest, _ := strings.Cut(text, " ")
		rest = strings.TrimSpace(rest)
		switch {
		case cmd == "Type":
			s, err := unquote(rest)
			if err != nil {
				return bad("Type needs one quoted string, e.g. Type \"x\": %v", err)
			}
			if s == "" {
				return bad("Type \"\" types nothing")
			}
			keys = append(keys, Key{Line: ln, Cmd: KeyType, Text: s})
		case cmd == "Sleep":
			d, err := parseSleep(rest)
			if err != nil {
				return bad("%v", err)
			}
			keys = append(keys, Key{Line: ln, Cmd: KeySleep, Sleep: d})
		case keyCmds[cmd] != "":
			n := 1
			if rest != "" {
				var err error
				if n, err = strconv.Atoi(rest); err != nil || n < 1 || n > maxCount {
					return bad("%s %s: the repeat count must be a whole number from 1 to %d", cmd, rest, maxCount)
				}
			}
			keys = append(keys, Key{Line: ln, Cmd: keyCmds[cmd], Count: n})
		default:
			return bad("unknown key command %q (want Type \"…\", Enter, Escape, Tab, Space, Up, Down, Left, Right, Backspace or Sleep)", cmd)
		}
		return nil
	})
	return keys, err
}

func unquote(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("no string")
	}
	if len(s) >= 2 && s[0] == '\'' && s[len(s)-1] == '\'' {
		return s[1 : len(s)-1], nil
	}
	if s[0] != '"' && s[0] != '`' {
		return "", fmt.Errorf("%s is not quoted", s)
	}
	u, err := strconv.Unquote(s)
	if err != nil {
		return "", fmt.Errorf("%s is not one quoted string", s)
	}
	return u, nil
}

var bareNumber = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// parseSleep reads a tape's duration: "2s", "500ms", or a bare number of
// seconds as VHS reads it.
func parseSleep(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("Sleep needs a duration, e.g. Sleep 2s or Sleep 500ms")
	}
	if bareNumber.MatchString(s) {
		s += "s"
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("Sleep %s: not a duration (e.g. 2s, 500ms)", s)
	}
	if d <= 0 || d > MaxSleep {
		return 0, fmt.Errorf("Sleep %s: must be more than 0 and at most %s", s, MaxSleep)
	}
	return d, nil
}

var tenantID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

var (
	agentStates = map[string]pipeline.AgentState{"none": pipeline.AgentNone, "active": pipeline.AgentActive,
		"released": pipeline.AgentReleased, "expired": pipeline.AgentExpired, "revoked": pipeline.AgentRevoked}
	stageNames = map[string]pipeline.Stage{"create": pipeline.StageCreate, "extract": pipeline.StageExtract,
		"transform": pipeline.StageTransform, "load": pipeline.StageLoad, "release": pipeline.StageRelease}
	ops    = map[string]pipeline.Op{"read": pipeline.OpRead, "write": pipeline.OpWrite}
	layers = map[string]pipeline.Layer{"local": pipeline.LayerLocal, "store": pipeline.LayerStore, "broker": pipeline.LayerBroker}
)

// condSyntax is each condition's grammar, for error messages.
var condSyntax = map[string]string{
	"agent":     "agent <tenant> none|active|released|expired|revoked",
	"stage":     "stage <tenant> create|extract|transform|load|release done|failed",
	"decision":  "decision <actor> <target> read|write allow|deny [local|store|broker]",
	"isolation": "isolation verified|failed",
	"report":    "report <tenant>",
	"audit":     "audit verified",
}

func parseExpect(name string, first int, body []string) ([]Cond, error) {
	var conds []Cond
	err := blockLines(first, body, func(ln int, text string) error {
		f := strings.Fields(text)
		bad := func(format string, a ...any) error {
			return &SyntaxError{File: name, Line: ln, Msg: fmt.Sprintf(format, a...)}
		}
		syntax, ok := condSyntax[f[0]]
		if !ok {
			return bad("unknown condition %q (want agent, stage, decision, isolation, report or audit)", f[0])
		}
		usage := func(what string) error { return bad("%s: %s (write: %s)", text, what, syntax) }
		tenant := func(s string) error {
			if !tenantID.MatchString(s) {
				return usage(fmt.Sprintf("%q is not a tenant id", s))
			}
			return nil
		}
		c := Cond{Line: ln}
		switch f[0] {
		case "agent":
			if len(f) != 3 {
				return usage("wrong number of words")
			}
			if err := tenant(f[1]); err != nil {
				return err
			}
			st, ok := agentStates[f[2]]
			if !ok {
				return usage(fmt.Sprintf("unknown agent state %q", f[2]))
			}
			c.Kind, c.Tenant, c.State = CondAgent, f[1], st
		case "stage":
			if len(f) != 4 {
				return usage("wrong number of words")
			}
			if err := tenant(f[1]); err != nil {
				return err
			}
			st, ok := stageNames[f[2]]
			if !ok {
				return usage(fmt.Sprintf("unknown stage %q", f[2]))
			}
			if f[3] != "done" && f[3] != "failed" {
				return usage(fmt.Sprintf("%q is neither done nor failed", f[3]))
			}
			c.Kind, c.Tenant, c.Stage, c.Failed = CondStage, f[1], st, f[3] == "failed"
		case "decision":
			if len(f) != 5 && len(f) != 6 {
				return usage("wrong number of words")
			}
			for _, t := range f[1:3] {
				if err := tenant(t); err != nil {
					return err
				}
			}
			op, ok := ops[f[3]]
			if !ok {
				return usage(fmt.Sprintf("unknown operation %q", f[3]))
			}
			if f[4] != "allow" && f[4] != "deny" {
				return usage(fmt.Sprintf("%q is neither allow nor deny", f[4]))
			}
			c.Kind, c.Tenant, c.Target, c.Op, c.Allow = CondDecision, f[1], f[2], op, f[4] == "allow"
			if len(f) == 6 {
				if c.Layer, ok = layers[f[5]]; !ok {
					return usage(fmt.Sprintf("unknown layer %q", f[5]))
				}
			}
		case "isolation":
			if len(f) != 2 || (f[1] != "verified" && f[1] != "failed") {
				return usage("want verified or failed")
			}
			c.Kind, c.Allow = CondIsolation, f[1] == "verified"
		case "report":
			if len(f) != 2 {
				return usage("wrong number of words")
			}
			if err := tenant(f[1]); err != nil {
				return err
			}
			c.Kind, c.Tenant = CondReport, f[1]
		case "audit":
			if len(f) != 2 || f[1] != "verified" {
				return usage("want verified")
			}
			c.Kind = CondAudit
		}
		conds = append(conds, c)
		return nil
	})
	return conds, err
}

func parseSetup(name string, first int, body []string) (Setup, error) {
	var s Setup
	ttlLine := 0
	err := blockLines(first, body, func(ln int, text string) error {
		f := strings.Fields(text)
		bad := func(format string, a ...any) error {
			return &SyntaxError{File: name, Line: ln, Msg: fmt.Sprintf(format, a...)}
		}
		switch f[0] {
		case "fresh":
			if len(f) != 1 {
				return bad("fresh takes no argument")
			}
			s.Fresh = true
		case "ttl":
			if ttlLine != 0 {
				return bad("a second ttl (the first is at line %d)", ttlLine)
			}
			ttlLine = ln
			if len(f) != 2 {
				return bad("ttl needs the agents' lifetime in seconds, e.g. ttl 8")
			}
			n, err := strconv.Atoi(f[1])
			if err != nil || n < 1 || time.Duration(n)*time.Second > MaxTTL {
				return bad("ttl %s: want whole seconds from 1 to %d", f[1], int(MaxTTL/time.Second))
			}
			s.TTL = time.Duration(n) * time.Second
		default:
			return bad("unknown setup %q (want fresh or ttl <seconds>)", f[0])
		}
		return nil
	})
	return s, err
}
