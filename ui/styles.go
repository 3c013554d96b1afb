package ui

import (
	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
)

// Styles holds every style the console uses, named by meaning. It is the only
// place that creates styles or colours: panes receive a Styles value.
//
// Colour never carries meaning on its own: every coloured verdict or state is
// also a word (ALLOW, DENY, BLOCKED, EXPIRED…) or a glyph (✓ ✗ ▸ ·), so the
// console reads the same with NO_COLOR.
type Styles struct {
	// Chrome.
	Header      lipgloss.Style // the header bar
	HeaderTitle lipgloss.Style // "tenantui"
	HeaderDim   lipgloss.Style // separators and labels in the header
	Healthy     lipgloss.Style
	Unhealthy   lipgloss.Style
	Clock       lipgloss.Style
	Border      lipgloss.Style // box lines
	Title       lipgloss.Style // box titles
	TitleNote   lipgloss.Style // right-hand note in a box title
	Muted       lipgloss.Style
	Label       lipgloss.Style // "scope", "jti", field names
	Value       lipgloss.Style
	Strong      lipgloss.Style
	Selected    lipgloss.Style // the selected tenant row
	Cursor      lipgloss.Style // the ▶ selection marker
	ColHeader   lipgloss.Style // table column headings
	Code        lipgloss.Style // report JSON
	Key         lipgloss.Style // key names in inline hints
	TooSmall    lipgloss.Style

	// Stages.
	StageDone    lipgloss.Style
	StageRunning lipgloss.Style
	StagePending lipgloss.Style
	StageFailed  lipgloss.Style

	// Decisions.
	Allow lipgloss.Style
	Deny  lipgloss.Style
	Warn  lipgloss.Style
	Pass  lipgloss.Style // isolation verified
	Fail  lipgloss.Style // isolation failed

	// Agent states.
	StateNone     lipgloss.Style
	StateActive   lipgloss.Style
	StateReleased lipgloss.Style
	StateExpired  lipgloss.Style
	StateRevoked  lipgloss.Style

	// Countdown bar.
	BarOK    lipgloss.Style
	BarWarn  lipgloss.Style
	BarCrit  lipgloss.Style
	BarEmpty lipgloss.Style

	// Log, status and forms.
	LogTime     lipgloss.Style
	LogText     lipgloss.Style
	Error       lipgloss.Style
	Status      lipgloss.Style
	Spinner     lipgloss.Style
	FormField   lipgloss.Style // an unfocused form value
	FormFocus   lipgloss.Style // the focused form value
	MenuCurrent lipgloss.Style // the highlighted menu entry

	// Lessons (the guided tour): rendered Markdown.
	MdText   lipgloss.Style
	MdStrong lipgloss.Style // **bold**
	MdEm     lipgloss.Style // *emphasis*
	MdCode   lipgloss.Style // `code`

	// Help is the bubbles/help theme.
	Help help.Styles
}

// NewStyles returns the console's styles for a dark or light background.
// The console starts dark and rebuilds its styles when the terminal reports a
// light background (only when Options.QueryBackground is set).
func NewStyles(isDark bool) Styles {
	ld := lipgloss.LightDark(isDark)
	c := lipgloss.Color
	var (
		fg      = ld(c("#1F2328"), c("#E6EDF3"))
		dim     = ld(c("#6E7781"), c("#8B949E"))
		line    = ld(c("#AFB8C1"), c("#3D444D"))
		accent  = ld(c("#6639BA"), c("#B392F0"))
		accent2 = ld(c("#0550AE"), c("#79C0FF"))
		green   = ld(c("#1A7F37"), c("#3FB950"))
		red     = ld(c("#CF222E"), c("#F85149"))
		amber   = ld(c("#9A6700"), c("#D29922"))
		orange  = ld(c("#BC4C00"), c("#F0883E"))
		selBg   = ld(c("#DDF4FF"), c("#1F2A44"))
		hdrBg   = ld(c("#EAEEF2"), c("#161B22"))
		codeFg  = ld(c("#0A3069"), c("#A5D6FF"))
	)
	s := lipgloss.NewStyle
	st := Styles{
		Header:      s().Background(hdrBg).Foreground(fg),
		HeaderTitle: s().Background(hdrBg).Foreground(accent).Bold(true),
		HeaderDim:   s().Background(hdrBg).Foreground(dim),
		Healthy:     s().Background(hdrBg).Foreground(green).Bold(true),
		Unhealthy:   s().Background(hdrBg).Foreground(red).Bold(true),
		Clock:       s().Background(hdrBg).Foreground(accent2).Bold(true),
		Border:      s().Foreground(line),
		Title:       s().Foreground(accent).Bold(true),
		TitleNote:   s().Foreground(dim),
		Muted:       s().Foreground(dim),
		Label:       s().Foreground(dim),
		Value:       s().Foreground(fg),
		Strong:      s().Foreground(fg).Bold(true),
		Selected:    s().Background(selBg).Bold(true),
		Cursor:      s().Foreground(accent).Bold(true),
		ColHeader:   s().Foreground(dim).Underline(true),
		Code:        s().Foreground(codeFg),
		Key:         s().Foreground(accent2).Bold(true),
		TooSmall:    s().Foreground(amber).Bold(true),

		StageDone:    s().Foreground(green),
		StageRunning: s().Foreground(accent2).Bold(true),
		StagePending: s().Foreground(dim),
		StageFailed:  s().Foreground(red).Bold(true),

		Allow: s().Foreground(green).Bold(true),
		Deny:  s().Foreground(red).Bold(true),
		Warn:  s().Foreground(amber).Bold(true),
		Pass:  s().Foreground(green).Bold(true),
		Fail:  s().Foreground(red).Bold(true).Underline(true),

		StateNone:     s().Foreground(dim),
		StateActive:   s().Foreground(green).Bold(true),
		StateReleased: s().Foreground(accent2).Bold(true),
		StateExpired:  s().Foreground(amber).Bold(true),
		StateRevoked:  s().Foreground(red).Bold(true).Reverse(true),

		BarOK:    s().Foreground(green),
		BarWarn:  s().Foreground(amber),
		BarCrit:  s().Foreground(orange).Bold(true),
		BarEmpty: s().Foreground(line),

		LogTime:     s().Foreground(dim),
		LogText:     s().Foreground(fg),
		Error:       s().Foreground(red).Bold(true),
		Status:      s().Foreground(fg),
		Spinner:     s().Foreground(accent),
		FormField:   s().Foreground(fg),
		FormFocus:   s().Foreground(accent).Bold(true).Reverse(true),
		MenuCurrent: s().Foreground(accent).Bold(true),

		MdText:   s().Foreground(fg),
		MdStrong: s().Foreground(fg).Bold(true),
		MdEm:     s().Foreground(fg).Italic(true),
		MdCode:   s().Foreground(codeFg),
	}
	st.Help = help.DefaultStyles(isDark)
	st.Help.ShortKey = s().Foreground(accent2).Bold(true)
	st.Help.FullKey = s().Foreground(accent2).Bold(true)
	st.Help.ShortDesc = s().Foreground(dim)
	st.Help.FullDesc = s().Foreground(dim)
	return st
}
