package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// Drawing helpers shared by the panes: boxes with titles, fitting lines to a
// width, and small formatters. They work on []string (one entry per screen
// line) so panes can be composed side by side without re-splitting.

// box draws a rounded box of exactly w×h cells around lines, with title on
// the top-left of the border and note on the top-right. Lines are fitted to
// the inner width (w-4: border and one space each side); extra lines are cut
// and missing ones are blank.
func box(st Styles, title, note string, lines []string, w, h int) []string {
	if w < 4 || h < 2 {
		return blank(w, h)
	}
	inner := w - 4
	out := make([]string, 0, h)
	out = append(out, boxTop(st, title, note, w))
	bar := st.Border.Render("│")
	for i := 0; i < h-2; i++ {
		l := ""
		if i < len(lines) {
			l = lines[i]
		}
		if i == h-3 && len(lines) > h-2 {
			l = st.Muted.Render(fmt.Sprintf("… %d more", len(lines)-(h-2)+1))
		}
		out = append(out, bar+" "+fit(l, inner)+" "+bar)
	}
	out = append(out, st.Border.Render("╰"+strings.Repeat("─", w-2)+"╯"))
	return out
}

// boxTop is "╭─ title ─────── note ─╮" at exactly w cells.
func boxTop(st Styles, title, note string, w int) string {
	room := w - 4 // "╭─" … "─╮"
	tw := ansi.StringWidth(title)
	nw := ansi.StringWidth(note)
	if nw > 0 && tw+nw+4 > room {
		note, nw = "", 0 // the title wins
	}
	if tw+2 > room {
		title = ansi.Truncate(title, max(room-2, 0), "…")
		tw = ansi.StringWidth(title)
	}
	var b strings.Builder
	b.WriteString(st.Border.Render("╭─"))
	used := 0
	if tw > 0 {
		b.WriteString(" " + st.Title.Render(title) + " ")
		used += tw + 2
	}
	fill := room - used
	if nw > 0 {
		fill -= nw + 2
	}
	b.WriteString(st.Border.Render(strings.Repeat("─", max(fill, 0))))
	if nw > 0 {
		b.WriteString(" " + note + " ")
	}
	b.WriteString(st.Border.Render("─╮"))
	return b.String()
}

// blank is h empty lines of w spaces.
func blank(w, h int) []string {
	out := make([]string, max(h, 0))
	sp := strings.Repeat(" ", max(w, 0))
	for i := range out {
		out[i] = sp
	}
	return out
}

// fit truncates s (which may be styled) to w cells with "…" and pads it with
// spaces to exactly w cells.
func fit(s string, w int) string {
	if w <= 0 {
		return ""
	}
	sw := ansi.StringWidth(s)
	if sw > w {
		s = ansi.Truncate(s, w, "…")
		sw = ansi.StringWidth(s)
	}
	if sw < w {
		s += strings.Repeat(" ", w-sw)
	}
	return s
}

// ansiTrunc truncates s to w cells with "…".
func ansiTrunc(s string, w int) string { return ansi.Truncate(s, max(w, 0), "…") }

// pad pads a plain string with spaces to w cells (never truncates).
func pad(s string, w int) string {
	if n := w - ansi.StringWidth(s); n > 0 {
		return s + strings.Repeat(" ", n)
	}
	return s
}

// truncMiddle shortens a plain string to w cells by cutting its middle, which
// keeps both ends of identifiers readable: "spiffe://agentwrit…/5f2c9a1e".
func truncMiddle(s string, w int) string {
	n := ansi.StringWidth(s)
	if n <= w {
		return s
	}
	if w <= 1 {
		return ansi.Truncate(s, w, "")
	}
	left := (w - 1) / 2
	right := w - 1 - left
	return ansi.Cut(s, 0, left) + "…" + ansi.Cut(s, n-right, n)
}

// truncScope shortens a scope to w cells keeping its identifier, the part
// that tells tenants apart: "read:ana…:hospital".
func truncScope(s string, w int) string {
	n := ansi.StringWidth(s)
	if n <= w {
		return s
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 || n-i+2 > w {
		return truncMiddle(s, w)
	}
	tail := s[i:]
	return ansi.Truncate(s[:i], w-ansi.StringWidth(tail), "…") + tail
}

// sideBySide joins two blocks of lines. Every line of a must already be aw
// cells wide (boxes are); missing lines are blank.
func sideBySide(a []string, aw int, b []string) []string {
	n := max(len(a), len(b))
	out := make([]string, n)
	var sp string
	for i := range n {
		l, r := "", ""
		if i < len(a) {
			l = a[i]
		} else {
			if sp == "" {
				sp = strings.Repeat(" ", aw)
			}
			l = sp
		}
		if i < len(b) {
			r = b[i]
		}
		out[i] = l + r
	}
	return out
}

// clock formats a non-negative duration as m:ss (h:mm:ss past an hour).
func clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int(d / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// hms is a wall-clock time as 15:04:05 ("--:--:--" when unset).
func hms(t time.Time) string {
	if t.IsZero() {
		return "--:--:--"
	}
	return t.Format("15:04:05")
}

// verdict renders an access decision as a coloured word.
func verdict(st Styles, allowed bool) string {
	if allowed {
		return st.Allow.Render("ALLOW")
	}
	return st.Deny.Render("DENY")
}

// oneLine keeps the first line of s.
func oneLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// wrap splits plain text into lines of at most w cells, on spaces where it can.
func wrap(s string, w int) []string {
	if w <= 0 {
		return nil
	}
	var out []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			for ansi.StringWidth(word) > w {
				if line != "" {
					out = append(out, line)
					line = ""
				}
				// break long words (scopes, SPIFFE IDs) after a ':' or '/'
				cut := w
				if i := strings.LastIndexAny(ansi.Cut(word, 0, w), ":/"); i > 0 {
					cut = i + 1
				}
				out = append(out, ansi.Cut(word, 0, cut))
				word = ansi.Cut(word, cut, ansi.StringWidth(word))
			}
			switch {
			case line == "":
				line = word
			case ansi.StringWidth(line)+1+ansi.StringWidth(word) <= w:
				line += " " + word
			default:
				out = append(out, line)
				line = word
			}
		}
		out = append(out, line)
	}
	return out
}
