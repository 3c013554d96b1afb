package ui

import "charm.land/bubbles/v2/key"

// KeyMap is every key binding of the console, grouped by screen. Bindings
// that do not apply to the current screen are disabled (see forMode), which
// also hides them from the help.
type KeyMap struct {
	// Main screen.
	Up          key.Binding
	Down        key.Binding
	Step        key.Binding
	RunAll      key.Binding
	Cross       key.Binding
	Isolation   key.Binding
	Matrix      key.Binding
	Renew       key.Binding
	Release     key.Binding
	Revoke      key.Binding
	Delegate    key.Binding
	OverCeiling key.Binding
	Audit       key.Binding
	Preview     key.Binding
	ShowError   key.Binding
	LogUp       key.Binding
	LogDown     key.Binding
	Close       key.Binding
	Home        key.Binding // first tenant (first row on the audit screen)
	End         key.Binding // last tenant (last row on the audit screen)
	FilterOpen  key.Binding
	Focus       key.Binding // tenant list or log: which one pgup/pgdn page
	PageUp      key.Binding // the tenant list, when it has the focus
	PageDown    key.Binding

	// Tenant filter (while typing a query).
	FilterAccept key.Binding
	FilterClear  key.Binding
	// Erase deletes the last character of a typed query (tenant filter,
	// audit filter).
	Erase key.Binding

	// Cross-tenant form.
	FieldPrev key.Binding
	FieldNext key.Binding
	ValuePrev key.Binding
	ValueNext key.Binding
	Run       key.Binding
	Released  key.Binding
	Cancel    key.Binding

	// Revoke menu.
	MenuUp   key.Binding
	MenuDown key.Binding
	Choose   key.Binding

	// Audit screen.
	Filter      key.Binding
	FilterValue key.Binding // the previous value (←); FilterNext the next
	FilterNext  key.Binding
	ScrollUp    key.Binding
	ScrollDown  key.Binding
	Back        key.Binding
	Oldest      key.Binding
	Newest      key.Binding
	TypeFilter  key.Binding // type the focused filter's value
	Refresh     key.Binding

	// Everywhere.
	Help key.Binding
	Quit key.Binding
	// Interrupt is ctrl+c alone: pressed again while releasing, it exits at
	// once.
	Interrupt key.Binding
}

// DefaultKeyMap returns the console's bindings.
func DefaultKeyMap() KeyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return KeyMap{
		Up:          b([]string{"up", "k"}, "↑/k", "previous tenant"),
		Down:        b([]string{"down", "j"}, "↓/j", "next tenant"),
		Step:        b([]string{"enter", "space"}, "enter", "next stage"),
		RunAll:      b([]string{"a"}, "a", "run all"),
		Cross:       b([]string{"x"}, "x", "cross-tenant"),
		Isolation:   b([]string{"i"}, "i", "isolation check"),
		Matrix:      b([]string{"m"}, "m", "matrix"),
		Renew:       b([]string{"r"}, "r", "renew"),
		Release:     b([]string{"d"}, "d", "release"),
		Revoke:      b([]string{"v"}, "v", "revoke"),
		Delegate:    b([]string{"g"}, "g", "delegation"),
		OverCeiling: b([]string{"o"}, "o", "over-ceiling"),
		Audit:       b([]string{"A"}, "A", "audit"),
		Preview:     b([]string{"p"}, "p", "data preview"),
		ShowError:   b([]string{"e"}, "e", "last error in full"),
		LogUp:       b([]string{"pgup", "K"}, "pgup", "log back"),
		LogDown:     b([]string{"pgdown", "J"}, "pgdn", "log forward"),
		Close:       b([]string{"esc"}, "esc", "close panel"),
		Home:        b([]string{"home"}, "home", "first tenant"),
		End:         b([]string{"end"}, "end", "last tenant"),
		FilterOpen:  b([]string{"/"}, "/", "filter tenants"),
		Focus:       b([]string{"tab"}, "tab", "focus list/log"),
		PageUp:      b([]string{"pgup"}, "pgup", "page up"),
		PageDown:    b([]string{"pgdown"}, "pgdn", "page down"),

		FilterAccept: b([]string{"enter"}, "enter", "keep selection"),
		FilterClear:  b([]string{"esc"}, "esc", "clear filter"),
		Erase:        b([]string{"backspace"}, "backspace", "erase"),

		FieldPrev: b([]string{"left", "shift+tab", "h"}, "←/shift+tab", "previous field"),
		FieldNext: b([]string{"right", "tab", "l"}, "→/tab", "next field"),
		ValuePrev: b([]string{"up", "k"}, "↑", "previous value"),
		ValueNext: b([]string{"down", "j"}, "↓", "next value"),
		Run:       b([]string{"enter"}, "enter", "run attempt"),
		Released:  b([]string{"u"}, "u", "use released token"),
		Cancel:    b([]string{"esc"}, "esc", "cancel"),

		MenuUp:   b([]string{"up", "k"}, "↑", "up"),
		MenuDown: b([]string{"down", "j"}, "↓", "down"),
		Choose:   b([]string{"enter"}, "enter", "revoke"),

		Filter:      b([]string{"f", "tab"}, "f/tab", "next filter"),
		FilterValue: b([]string{"left", "h"}, "←/→", "change filter"),
		FilterNext:  b([]string{"right", "l"}, "→", "next value"),
		ScrollUp:    b([]string{"up", "k"}, "↑", "scroll up"),
		ScrollDown:  b([]string{"down", "j"}, "↓", "scroll down"),
		Back:        b([]string{"esc"}, "esc", "back"),
		Oldest:      b([]string{"home"}, "home", "oldest"),
		Newest:      b([]string{"end"}, "end", "newest"),
		TypeFilter:  b([]string{"/"}, "/", "type filter"),
		Refresh:     b([]string{"r"}, "r", "refresh"),

		Help:      b([]string{"?"}, "?", "help"),
		Quit:      b([]string{"q", "ctrl+c"}, "q", "quit"),
		Interrupt: b([]string{"ctrl+c"}, "ctrl+c", "exit at once"),
	}
}

// forMode returns a copy of k with only the bindings of mode enabled.
func (k KeyMap) forMode(md mode) KeyMap {
	main := md == modeMain
	for _, b := range []*key.Binding{&k.Up, &k.Down, &k.Step, &k.RunAll, &k.Cross, &k.Isolation, &k.Matrix,
		&k.Renew, &k.Release, &k.Revoke, &k.Delegate, &k.OverCeiling, &k.Audit, &k.Preview, &k.ShowError, &k.LogUp, &k.LogDown, &k.Close,
		&k.Home, &k.End, &k.FilterOpen, &k.Focus, &k.PageUp, &k.PageDown} {
		b.SetEnabled(main)
	}
	cross := md == modeCross
	for _, b := range []*key.Binding{&k.FieldPrev, &k.FieldNext, &k.ValuePrev, &k.ValueNext, &k.Run, &k.Released} {
		b.SetEnabled(cross)
	}
	k.Cancel.SetEnabled(cross || md == modeRevoke)
	revoke := md == modeRevoke
	for _, b := range []*key.Binding{&k.MenuUp, &k.MenuDown, &k.Choose} {
		b.SetEnabled(revoke)
	}
	audit := md == modeAudit
	for _, b := range []*key.Binding{&k.Filter, &k.FilterValue, &k.FilterNext, &k.ScrollUp, &k.ScrollDown, &k.Back,
		&k.Oldest, &k.Newest, &k.TypeFilter, &k.Refresh} {
		b.SetEnabled(audit)
	}
	k.PageUp.SetEnabled(main || audit) // the list or log, or the audit trail
	k.PageDown.SetEnabled(main || audit)
	return k
}

// ShortHelp is the one-line help of the current screen (help.KeyMap).
func (k KeyMap) ShortHelp() []key.Binding {
	return []key.Binding{
		k.Step, k.RunAll, k.Cross, k.Isolation, k.Matrix, k.Revoke, k.Delegate, k.OverCeiling, k.Audit,
		k.FieldNext, k.ValueNext, k.Run, k.Released, k.Cancel,
		k.MenuDown, k.Choose,
		k.Filter, k.FilterValue, k.ScrollDown, k.Back,
	}
}

// FullHelp is the help shown by "?" (help.KeyMap).
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		// Main screen: moving, acting on the selected tenant, the rest; three
		// columns, so that the whole help fits 80 columns.
		{k.Up, k.Down, k.Home, k.End, k.FilterOpen, k.Focus, k.LogUp, k.LogDown, k.Close},
		{k.Step, k.RunAll, k.Cross, k.Isolation, k.Matrix, k.OverCeiling, k.Delegate, k.Renew, k.Release},
		{k.Revoke, k.Audit, k.Preview, k.ShowError, k.Help, k.Quit},
		{k.FieldPrev, k.FieldNext, k.ValuePrev, k.ValueNext, k.Run, k.Released, k.Cancel},
		{k.MenuUp, k.MenuDown, k.Choose},
		{k.Filter, k.FilterValue, k.TypeFilter, k.ScrollUp, k.ScrollDown, k.Oldest, k.Newest, k.Refresh, k.Back},
	}
}
