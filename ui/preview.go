package ui

import (
	"fmt"
	"strings"

	"github.com/tenantui/tenantui/pipeline"
)

// The data and report preview: what extract read, what transform computed,
// and the report load wrote (path and content).

func previewTitle(s *pipeline.TenantState) (string, string) {
	note := ""
	if s.Report != "" {
		note = s.Report
	}
	return "Data · " + s.Tenant.ID, note
}

func previewLines(st Styles, s *pipeline.TenantState, inner int) []string {
	if s.Rows == 0 && s.Metrics == nil && s.Report == "" {
		return []string{st.Muted.Render("no data yet: extract reads " + s.Tenant.ID + "'s " + s.Tenant.DataType +
			" with " + s.Tenant.ReadScope)}
	}
	lbl := func(l string) string { return st.Label.Render(pad(l, 8)) }
	out := []string{lbl("rows") + st.Value.Render(fmt.Sprintf("%d extracted", s.Rows))}
	if m := s.Metrics; m != nil && len(m.Names) > 0 {
		nameW := 0
		for _, n := range m.Names {
			nameW = max(nameW, len(n))
		}
		cellW := nameW + 2 + 12
		per := max((inner-8)/(cellW+2), 1)
		var row []string
		flush := func(first bool) {
			l := lbl("")
			if first {
				l = lbl("metrics")
			}
			out = append(out, l+strings.Join(row, "  "))
			row = row[:0]
		}
		first := true
		for _, n := range m.Names {
			row = append(row, st.Muted.Render(pad(n, nameW))+"  "+st.Strong.Render(pad(m.Values[n], 12)))
			if len(row) == per {
				flush(first)
				first = false
			}
		}
		if len(row) > 0 {
			flush(first)
		}
	}
	if s.Report != "" {
		out = append(out, lbl("report")+st.Value.Render(truncMiddle(s.Report, max(inner-8, 8))))
	}
	if s.ReportJSON != "" {
		for _, l := range strings.Split(strings.TrimRight(s.ReportJSON, "\n"), "\n") {
			out = append(out, st.Code.Render(l))
		}
	}
	return out
}
