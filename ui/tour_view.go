package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// The lesson pane and the tour's layout. Narrow (under 120 columns): the
// agent card above the detail and log on the left, the lesson pane on the
// right, below the tenants table. Wide: the console's left column, and the
// lesson pane above the detail and log on the right.

func (m Model) tourBody(l layout, now time.Time, spin, tspin string) []string {
	h := l.bodyH - l.tenantsH
	if l.wide {
		left := m.cardBox(l.leftW, l.midH, now)
		left = append(left, m.stepperBox(l.leftW, l.stepH, tspin)...)
		if l.previewH > 0 {
			left = append(left, m.previewBox(l.leftW, l.previewH)...)
		}
		lh := clamp(h/2, 8, max(h-5, 8))
		right := append(m.lessonBox(l.bottomW, lh), m.detailAndLog(l.bottomW, h-lh, spin)...)
		return sideBySide(left, l.leftW, right)
	}
	left := append(m.cardBox(l.cardW, l.midH, now), m.detailAndLog(l.cardW, h-l.midH, spin)...)
	return sideBySide(left, l.cardW, m.lessonBox(m.width-l.cardW, h))
}

// lessonBox is the lesson pane at w×h.
func (m Model) lessonBox(w, h int) []string {
	t := m.tour
	lesson := t.lessons[t.i]
	title := fmt.Sprintf("Lesson %d/%d · %s", t.i+1, len(t.lessons), lesson.Title)
	note := m.st.Muted.Render("to do")
	switch {
	case t.finished:
		title, note = "Tour complete", m.st.Pass.Render("✓")
	case t.done:
		note = m.st.Pass.Render("✓ done")
	case t.setup:
		note = m.st.Muted.Render("setting up")
	}
	return box(m.st, title, note, m.lessonLines(w-4, h-2), w, h)
}

// lessonLines is the pane's content: the narrative (or, once done, what
// really happened and why), the conditions as a checklist, the keys of the
// solution, and what n does now. The narrative gives way first when room is
// short.
func (m Model) lessonLines(w, h int) []string {
	t := m.tour
	st := m.st
	if t.finished {
		return wrapMarkdown(st, fmt.Sprintf("You finished all **%d lessons**. The console is yours: "+
			"every key still works. **q** quits and releases every live agent.", len(t.lessons)), w)
	}
	lesson := t.lessons[t.i]
	var top, bottom []string
	if t.done {
		top = append(top, st.Pass.Render("✓ Done. What really happened:"))
		for _, r := range t.results {
			var words []word
			for _, f := range strings.Fields(r.Evidence) { // plain text: scopes hold '*'
				words = append(words, word{text: st.Muted.Render(f), w: ansi.StringWidth(f)})
			}
			for k, l := range wrapWords(words, w-2, "") {
				mark := "  "
				if k == 0 {
					mark = st.Pass.Render("✓ ")
				}
				top = append(top, mark+l)
			}
		}
		if lesson.After != "" {
			top = append(top, "")
			top = append(top, wrapMarkdown(st, lesson.After, w)...)
		}
		bottom = append(bottom, "", st.Key.Render("n")+st.Muted.Render(" next lesson"))
	} else {
		top = wrapMarkdown(st, lesson.Narrative, w)
		bottom = append(bottom, "")
		for _, r := range t.results {
			mark := st.StagePending.Render("☐ ")
			if r.Met {
				mark = st.Pass.Render("✓ ")
			}
			bottom = append(bottom, fit(mark+st.Value.Render(r.Cond.Goal()), w))
		}
		if t.setup {
			bottom = append(bottom, st.Muted.Render("setting up a fresh pipeline…"))
		} else if t.setupErr != "" {
			bottom = append(bottom, fit(st.Error.Render("setup failed: "+t.setupErr), w))
		}
		var keys []string
		for _, k := range lesson.Keys {
			if s := k.Hint(); s != "" {
				keys = append(keys, s)
			}
		}
		bottom = append(bottom, fit(st.Muted.Render("keys: ")+st.Key.Render(strings.Join(keys, " "))+
			st.Muted.Render(" · then ")+st.Key.Render("n"), w))
	}
	if room := h - len(bottom); len(top) > room {
		if t.done { // the evidence matters more than the checklist's blank line
			bottom = bottom[1:]
			room++
		}
		room = max(room, 1)
		top = append(top[:room-1:room-1], st.Muted.Render("…"))
	}
	return append(top, bottom...)
}

// wrapMarkdown renders a lesson's Markdown to lines of at most w cells:
// paragraphs, "- " and "1. " list items, "#" headings, **bold**, *emphasis*
// and `code`. That is all a lesson needs; anything else reads as text.
func wrapMarkdown(st Styles, md string, w int) []string {
	w = max(w, 8)
	var out []string
	for _, para := range splitParagraphs(md) {
		if len(out) > 0 {
			out = append(out, "")
		}
		for _, item := range para {
			indent := ""
			text := item
			switch {
			case strings.HasPrefix(text, "#"):
				out = append(out, ansi.Truncate(st.MdStrong.Render(strings.TrimSpace(strings.TrimLeft(text, "#"))), w, "…"))
				continue
			case strings.HasPrefix(text, "- "), strings.HasPrefix(text, "* "):
				text, indent = "• "+text[2:], "  "
			default:
				if i := strings.Index(text, ". "); i > 0 && i <= 3 && strings.Trim(text[:i], "0123456789") == "" {
					indent = strings.Repeat(" ", i+2)
				}
			}
			out = append(out, wrapWords(inlineWords(st, text), w, indent)...)
		}
	}
	return out
}

// splitParagraphs splits Markdown into paragraphs of items: a list item or
// a heading starts an item of its own; other lines join the item before.
func splitParagraphs(md string) [][]string {
	var paras [][]string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			paras = append(paras, cur)
			cur = nil
		}
	}
	for _, line := range strings.Split(md, "\n") {
		t := strings.TrimSpace(line)
		switch {
		case t == "":
			flush()
		case strings.HasPrefix(t, "#") || strings.HasPrefix(t, "- ") || strings.HasPrefix(t, "* ") || isNumbered(t):
			cur = append(cur, t)
		case len(cur) > 0:
			cur[len(cur)-1] += " " + t
		default:
			cur = append(cur, t)
		}
	}
	flush()
	return paras
}

func isNumbered(t string) bool {
	i := strings.Index(t, ". ")
	return i > 0 && i <= 3 && strings.Trim(t[:i], "0123456789") == ""
}

// word is one styled word of a paragraph.
type word struct {
	text string // rendered
	w    int    // cells
}

// inlineWords splits text into rendered words, styling **bold**, *em* and
// `code` spans (spans may cover several words).
func inlineWords(st Styles, text string) []word {
	var words []word
	var cur strings.Builder
	style := st.MdText
	bold, em, code := false, false, false
	var raw strings.Builder
	emit := func() {
		if raw.Len() == 0 {
			return
		}
		cur.WriteString(style.Render(raw.String()))
		raw.Reset()
	}
	end := func() {
		emit()
		if cur.Len() > 0 {
			s := cur.String()
			words = append(words, word{text: s, w: ansi.StringWidth(s)})
			cur.Reset()
		}
	}
	restyle := func() {
		emit()
		switch {
		case code:
			style = st.MdCode
		case bold:
			style = st.MdStrong
		case em:
			style = st.MdEm
		default:
			style = st.MdText
		}
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '`':
			code = !code
			restyle()
		case !code && c == '*' && i+1 < len(text) && text[i+1] == '*':
			bold = !bold
			restyle()
			i++
		case !code && c == '*' && emToggles(text, i, em):
			em = !em
			restyle()
		case c == ' ':
			end()
		default:
			raw.WriteByte(c)
		}
	}
	end()
	return words
}

// wrapWords fills lines of at most w cells with words; continuation lines
// start with indent. A word wider than a line is cut.
func wrapWords(words []word, w int, indent string) []string {
	var out []string
	line, lw := "", 0
	for _, wd := range words {
		switch {
		case lw == 0:
		case lw+1+wd.w <= w:
			line += " "
			lw++
		default:
			out = append(out, line)
			line, lw = indent, len(indent)
		}
		if lw+wd.w > w {
			wd.text, wd.w = ansi.Truncate(wd.text, max(w-lw, 1), "…"), max(w-lw, 1)
		}
		line += wd.text
		lw += wd.w
	}
	if lw > 0 {
		out = append(out, line)
	}
	return out
}

// emToggles reports whether the '*' at i opens emphasis (at a word's start,
// before a non-space) or closes it (after a non-space): a '*' inside a
// scope such as read:analytics:* is text.
func emToggles(text string, i int, em bool) bool {
	if em {
		return i > 0 && text[i-1] != ' '
	}
	return (i == 0 || text[i-1] == ' ' || text[i-1] == '(') && i+1 < len(text) && text[i+1] != ' '
}
