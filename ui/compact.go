package ui

import (
	"strings"

	"charm.land/bubbles/v2/key"
	"github.com/charmbracelet/x/ansi"
)

// hintLines renders bindings as "key desc · key desc", skipping disabled
// ones, wrapped at whole hints to width cells, so that none is cut off.
func hintLines(st Styles, width int, bs ...key.Binding) []string {
	sep := st.Muted.Render(" · ")
	var lines []string
	var cur strings.Builder
	curW := 0
	for _, b := range bs {
		if !b.Enabled() {
			continue
		}
		h := b.Help()
		part := st.Key.Render(h.Key) + " " + st.Muted.Render(h.Desc)
		pw := ansi.StringWidth(h.Key) + 1 + ansi.StringWidth(h.Desc)
		if curW > 0 && curW+3+pw > width {
			lines = append(lines, cur.String())
			cur.Reset()
			curW = 0
		}
		if curW > 0 {
			cur.WriteString(sep)
			curW += 3
		}
		cur.WriteString(part)
		curW += pw
	}
	if curW > 0 {
		lines = append(lines, cur.String())
	}
	return lines
}
