package scope

import (
	"errors"
	"strings"
	"testing"

	"github.com/tenantui/tenantui/internal/conformance"
)

func loadVectors(t testing.TB) []conformance.Vector { return conformance.ScopeVectors(t) }

func TestBrokerVectors(t *testing.T) {
	for i, c := range loadVectors(t) {
		if got := IsSubset(c.Requested, c.Allowed); got != c.Subset {
			t.Errorf("case %d: IsSubset(%q, %q) = %v, broker says %v", i, c.Requested, c.Allowed, got, c.Subset)
		}
		if got := Check(c.Requested, c.Allowed).Allowed; got != c.Subset {
			t.Errorf("case %d: Check(%q, %q).Allowed = %v, broker says %v", i, c.Requested, c.Allowed, got, c.Subset)
		}
		wf := true
		for _, s := range append(append([]string{}, c.Requested...), c.Allowed...) {
			if _, err := Parse(s); err != nil {
				wf = false
			}
		}
		if wf != c.AllWellFormed {
			t.Errorf("case %d: well-formedness of %q/%q = %v, broker says %v", i, c.Requested, c.Allowed, wf, c.AllWellFormed)
		}
	}
}

// TestProtocolTable is the table of §2, case by case.
func TestProtocolTable(t *testing.T) {
	cases := []struct {
		name               string
		requested, allowed []string
		want               bool
	}{
		{"wildcard identifier covers", []string{"read:data:cust"}, []string{"read:data:*"}, true},
		{"specific does not cover wildcard", []string{"read:data:*"}, []string{"read:data:cust"}, false},
		{"wildcard covers wildcard", []string{"read:data:*"}, []string{"read:data:*"}, true},
		{"wildcard resource is literal", []string{"read:data:cust"}, []string{"read:*:cust"}, false},
		{"wildcard action is literal", []string{"read:data:cust"}, []string{"*:data:cust"}, false},
		{"*:*:* is no super-scope", []string{"read:data:cust"}, []string{"*:*:*"}, false},
		{"*:*:* covers *:*:x", []string{"*:*:cust"}, []string{"*:*:*"}, true},
		{"identifier keeps later colons", []string{"read:data:a:b"}, []string{"read:data:*"}, true},
		{"colon identifier equality", []string{"read:data:a:b"}, []string{"read:data:a:b"}, true},
		{"two parts never covered", []string{"read:data"}, []string{"read:data"}, false},
		{"one part never covered", []string{"bad"}, []string{"bad"}, false},
		{"empty resource", []string{"read::x"}, []string{"read::x"}, false},
		{"empty resource vs wildcard", []string{"read::x"}, []string{"read::*"}, false},
		{"empty identifier", []string{"read:data:"}, []string{"read:data:*"}, false},
		{"bare star allowed", []string{"read:data:x"}, []string{"*"}, false},
		{"bare star both", []string{"*"}, []string{"*"}, false},
		{"empty request", nil, []string{"read:data:x"}, true},
		{"empty request, empty allowed", []string{}, []string{}, true},
		{"nothing allowed", []string{"read:data:x"}, nil, false},
		{"case-sensitive", []string{"Read:data:x"}, []string{"read:data:*"}, false},
		{"no trimming", []string{"read:data:x "}, []string{"read:data:x"}, false},
		{"write ⊄ read", []string{"write:reports:hospital"}, []string{"read:analytics:hospital"}, false},
		{"seed: hospital reads bank", []string{"read:analytics:bank"}, hospital, false},
		{"seed: hospital writes retail", []string{"write:reports:retail"}, hospital, false},
		{"seed: hospital reads own", []string{"read:analytics:hospital"}, hospital, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := IsSubset(c.requested, c.allowed); got != c.want {
				t.Fatalf("IsSubset(%q, %q) = %v, want %v", c.requested, c.allowed, got, c.want)
			}
		})
	}
}

var hospital = []string{"read:analytics:hospital", "write:reports:hospital"}

func TestParse(t *testing.T) {
	s, err := Parse("read:data:a:b")
	if err != nil || s != (Scope{"read", "data", "a:b"}) {
		t.Fatalf("Parse = %+v, %v", s, err)
	}
	if s.String() != "read:data:a:b" {
		t.Fatalf("String = %q", s.String())
	}
	bad := map[string]string{
		"":              "empty",
		"bad":           "1 of the 3",
		"read:data":     "2 of the 3",
		":data:x":       "action is empty",
		"read::x":       "resource is empty",
		"read:data:":    "identifier is empty",
		"read:data::":   "",
		"read:data:x:y": "",
	}
	for in, want := range bad {
		_, err := Parse(in)
		if want == "" {
			if in == "read:data::" {
				// identifier ":" is non-empty: well formed.
				if err != nil {
					t.Errorf("Parse(%q) = %v, want ok", in, err)
				}
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) || !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) error = %v, want mention of %q", in, err, want)
		}
	}
}

func TestCheckExplains(t *testing.T) {
	cases := []struct {
		required []string
		held     []string
		allowed  bool
		reason   Reason
		nearest  string
		detail   string
	}{
		{[]string{"read:analytics:bank"}, hospital, false, DifferentIdentifier, "read:analytics:hospital", `identifier "bank" ≠ "hospital"`},
		{[]string{"write:reports:retail"}, hospital, false, DifferentIdentifier, "write:reports:hospital", `identifier "retail" ≠ "hospital"`},
		{[]string{"read:billing:bank"}, hospital, false, DifferentResource, "read:analytics:hospital", `resource "billing" ≠ "analytics"`},
		{[]string{"delete:analytics:hospital"}, hospital, false, DifferentAction, "", `no held scope has action "delete"`},
		{[]string{"read:analytics"}, hospital, false, MalformedRequired, "", "2 of the 3"},
		{[]string{"read:analytics:x"}, []string{"bad"}, false, NothingHeld, "", "no well-formed scope"},
		{[]string{"read:analytics:hospital"}, hospital, true, Covered, "read:analytics:hospital", "covered by read:analytics:hospital"},
		{[]string{"read:analytics:bank"}, []string{"read:analytics:*"}, true, Covered, "read:analytics:*", "wildcard"},
	}
	for _, c := range cases {
		d := Check(c.required, c.held)
		if d.Allowed != c.allowed {
			t.Errorf("Check(%q, %q).Allowed = %v", c.required, c.held, d.Allowed)
		}
		if len(d.Items) != 1 {
			t.Fatalf("items = %d", len(d.Items))
		}
		it := d.Items[0]
		if it.Reason != c.reason || (c.nearest != "" && it.Held != c.nearest) || !strings.Contains(it.Detail, c.detail) {
			t.Errorf("Check(%q, %q) item = %+v, want reason %v nearest %q detail ~%q", c.required, c.held, it, c.reason, c.nearest, c.detail)
		}
		if c.allowed != strings.HasPrefix(d.String(), "ALLOW") {
			t.Errorf("String() = %q", d.String())
		}
	}
	// Several required scopes: the first uncovered one is the reason.
	d := Check([]string{"read:analytics:hospital", "write:reports:bank"}, hospital)
	if d.Allowed || len(d.Denied()) != 1 || !strings.HasPrefix(d.Reason(), "write:reports:bank:") {
		t.Errorf("multi: %+v reason %q", d, d.Reason())
	}
}

// reference is a deliberately naive implementation of the broker's rule.
func reference(requested, allowed []string) bool {
	parse := func(s string) ([]string, bool) {
		p := strings.SplitN(s, ":", 3)
		if len(p) != 3 || p[0] == "" || p[1] == "" || p[2] == "" {
			return nil, false
		}
		return p, true
	}
	for _, r := range requested {
		rp, ok := parse(r)
		if !ok {
			return false
		}
		found := false
		for _, a := range allowed {
			ap, ok := parse(a)
			if ok && ap[0] == rp[0] && ap[1] == rp[1] && (ap[2] == rp[2] || ap[2] == "*") {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func FuzzIsSubset(f *testing.F) {
	f.Add("read:data:cust", "read:data:*", "")
	f.Add("read:data:a:b", "read:data:*", "x")
	f.Add("*", "*", "read::x")
	f.Add("", ":", "::")
	f.Fuzz(func(t *testing.T, r, a1, a2 string) {
		req, allowed := []string{r}, []string{a1, a2}
		if got, want := IsSubset(req, allowed), reference(req, allowed); got != want {
			t.Fatalf("IsSubset(%q, %q) = %v, reference %v", req, allowed, got, want)
		}
		d := Check(req, allowed)
		if d.Allowed != IsSubset(req, allowed) || len(d.Items) != 1 || d.Items[0].OK() != d.Allowed {
			t.Fatalf("Check disagrees: %+v", d)
		}
		if s, err := Parse(r); err == nil {
			if s.String() != r {
				t.Fatalf("round trip %q -> %q", r, s.String())
			}
			if !Covers(s.String(), r) {
				t.Fatalf("%q does not cover itself", r)
			}
		}
	})
}

func BenchmarkIsSubsetDenied(b *testing.B) {
	req := []string{"read:analytics:bank"}
	b.ReportAllocs()
	for b.Loop() {
		if IsSubset(req, hospital) {
			b.Fatal("covered")
		}
	}
}

func BenchmarkIsSubsetDeniedWrite(b *testing.B) {
	req := []string{"write:reports:retail"}
	b.ReportAllocs()
	for b.Loop() {
		if IsSubset(req, hospital) {
			b.Fatal("covered")
		}
	}
}

func BenchmarkIsSubsetAllowed(b *testing.B) {
	req := []string{"write:reports:hospital"}
	b.ReportAllocs()
	for b.Loop() {
		if !IsSubset(req, hospital) {
			b.Fatal("not covered")
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	req := []string{"read:analytics:bank"}
	b.ReportAllocs()
	for b.Loop() {
		_ = Check(req, hospital)
	}
}
