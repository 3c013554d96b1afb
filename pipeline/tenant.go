package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"

	"github.com/tenantui/tenantui/scope"
)

// Kind is the shape of a tenant's analytics data.
type Kind string

// The data kinds the generator knows.
const (
	KindHospital Kind = "hospital" // patient visits: length of stay, readmitted
	KindBank     Kind = "bank"     // transactions: amount, balance, fraud flag
	KindRetail   Kind = "retail"   // orders: amount, returned
)

// Tenant is one customer of the analytics platform.
type Tenant struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Kind       Kind   `json:"kind"`
	DataType   string `json:"data_type,omitempty"`
	ReadScope  string `json:"read_scope,omitempty"`
	WriteScope string `json:"write_scope,omitempty"`
	// Rows is the number of rows generated for the tenant's store; 0 means the
	// kind's default at the run's scale.
	Rows int `json:"rows,omitempty"`
}

// Scopes returns the tenant's two scopes, the ones its agents are granted.
func (t Tenant) Scopes() []string { return []string{t.ReadScope, t.WriteScope} }

// ScopeFor returns the scope an operation on this tenant requires.
func (t Tenant) ScopeFor(op Op) string {
	if op == OpWrite {
		return t.WriteScope
	}
	return t.ReadScope
}

// DefaultTenants are the seed's three tenants.
func DefaultTenants() []Tenant {
	return []Tenant{
		{ID: "hospital", Name: "Metro Health System", Kind: KindHospital, DataType: "patient analytics",
			ReadScope: "read:analytics:hospital", WriteScope: "write:reports:hospital"},
		{ID: "bank", Name: "First National Bank", Kind: KindBank, DataType: "financial analytics",
			ReadScope: "read:analytics:bank", WriteScope: "write:reports:bank"},
		{ID: "retail", Name: "ShopWave Corp", Kind: KindRetail, DataType: "sales analytics",
			ReadScope: "read:analytics:retail", WriteScope: "write:reports:retail"},
	}
}

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

var defaultDataType = map[Kind]string{
	KindHospital: "patient analytics",
	KindBank:     "financial analytics",
	KindRetail:   "sales analytics",
}

// CatalogError names the catalog entry at fault.
type CatalogError struct {
	File  string
	Index int // 0-based entry index, -1 for the whole file
	ID    string
	Msg   string
}

func (e *CatalogError) Error() string {
	where := e.File
	if e.Index >= 0 {
		where = fmt.Sprintf("%s: tenant #%d", e.File, e.Index+1)
		if e.ID != "" {
			where += fmt.Sprintf(" (%q)", e.ID)
		}
	}
	return where + ": " + e.Msg
}

// LoadTenants reads a JSON catalog: {"tenants": [{"id": …, "name": …, "kind":
// "hospital|bank|retail", "data_type"?, "read_scope"?, "write_scope"?, "rows"?}]}.
// Missing scopes default to read:analytics:<id> and write:reports:<id>.
func LoadTenants(path string) ([]Tenant, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, &CatalogError{File: path, Index: -1, Msg: errors.Unwrap(err).Error()}
	}
	var f struct {
		Tenants []Tenant `json:"tenants"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, &CatalogError{File: path, Index: -1, Msg: "not a tenant catalog: " + err.Error()}
	}
	if len(f.Tenants) == 0 {
		return nil, &CatalogError{File: path, Index: -1, Msg: `no tenants (want {"tenants": [...]})`}
	}
	if err := NormalizeTenants(f.Tenants); err != nil {
		var ce *CatalogError
		if errors.As(err, &ce) {
			ce.File = path
		}
		return nil, err
	}
	return f.Tenants, nil
}

// NormalizeTenants fills defaults in place and validates the catalog: unique
// ids of lowercase letters, digits, '-' and '_', a known kind, and well-formed
// scopes of the form read:analytics:<id> and write:reports:<id>.
func NormalizeTenants(ts []Tenant) error {
	seen := make(map[string]int, len(ts))
	for i := range ts {
		t := &ts[i]
		bad := func(format string, a ...any) error {
			return &CatalogError{File: "catalog", Index: i, ID: t.ID, Msg: fmt.Sprintf(format, a...)}
		}
		if !idPattern.MatchString(t.ID) {
			return bad("id must be 1-63 lowercase letters, digits, '-' or '_' starting with a letter or digit")
		}
		if j, dup := seen[t.ID]; dup {
			return bad("duplicate id (also tenant #%d)", j+1)
		}
		seen[t.ID] = i
		if t.Kind == "" {
			t.Kind = KindRetail
		}
		if _, ok := defaultDataType[t.Kind]; !ok {
			return bad("unknown kind %q (want hospital, bank or retail)", t.Kind)
		}
		if t.Name == "" {
			t.Name = t.ID
		}
		if t.DataType == "" {
			t.DataType = defaultDataType[t.Kind]
		}
		if t.ReadScope == "" {
			t.ReadScope = "read:analytics:" + t.ID
		}
		if t.WriteScope == "" {
			t.WriteScope = "write:reports:" + t.ID
		}
		if t.Rows < 0 {
			return bad("rows must not be negative")
		}
		for _, s := range []struct{ name, val, action, resource string }{
			{"read_scope", t.ReadScope, "read", "analytics"},
			{"write_scope", t.WriteScope, "write", "reports"},
		} {
			sc, err := scope.Parse(s.val)
			if err != nil {
				return bad("%s: %v", s.name, err)
			}
			if sc.Identifier != t.ID {
				return bad("%s %q: identifier must be the tenant id %q", s.name, s.val, t.ID)
			}
			if sc.Action != s.action || sc.Resource != s.resource {
				return bad("%s %q: must be %s:%s:%s (the app's ceiling)", s.name, s.val, s.action, s.resource, t.ID)
			}
		}
	}
	return nil
}
