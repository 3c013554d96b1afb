package ui

import "charm.land/bubbles/v2/key"

// WatchKeyMap is every key binding of `tenantui watch`, by screen. Bindings
// that do not apply to the current screen are disabled (see forScreen),
// which also hides them from the help line.
type WatchKeyMap struct {
	// Table.
	Up     key.Binding
	Down   key.Binding
	PgUp   key.Binding
	PgDown key.Binding
	Open   key.Binding
	Filter key.Binding
	Revoke key.Binding
	Quit   key.Binding
	// Interrupt quits from any screen.
	Interrupt key.Binding

	// Filter input.
	Apply key.Binding
	Clear key.Binding

	// Revoke menu and confirmation.
	Choose  key.Binding
	Confirm key.Binding

	// Everywhere but the filter input.
	Back key.Binding
}

// DefaultWatchKeyMap returns the watch view's bindings.
func DefaultWatchKeyMap() WatchKeyMap {
	return WatchKeyMap{
		Up:        key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:      key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		PgUp:      key.NewBinding(key.WithKeys("pgup"), key.WithHelp("pgup", "page up")),
		PgDown:    key.NewBinding(key.WithKeys("pgdown"), key.WithHelp("pgdn", "page down")),
		Open:      key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "events")),
		Filter:    key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Revoke:    key.NewBinding(key.WithKeys("v"), key.WithHelp("v", "revoke")),
		Quit:      key.NewBinding(key.WithKeys("q"), key.WithHelp("q", "quit")),
		Interrupt: key.NewBinding(key.WithKeys("ctrl+c"), key.WithHelp("ctrl+c", "quit")),
		Apply:     key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "apply")),
		Clear:     key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear")),
		Choose:    key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "choose level")),
		Confirm:   key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "yes, revoke")),
		Back:      key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "back")),
	}
}

// ShortHelp is the help line of the current screen.
func (k WatchKeyMap) ShortHelp() []key.Binding {
	return []key.Binding{k.Up, k.Down, k.Open, k.Filter, k.Revoke, k.Apply, k.Clear, k.Choose, k.Confirm, k.Back, k.Quit}
}

// FullHelp is ShortHelp in one column group (the watch view has no ? screen).
func (k WatchKeyMap) FullHelp() [][]key.Binding { return [][]key.Binding{k.ShortHelp()} }

// forScreen enables the bindings of screen s only.
func (k WatchKeyMap) forScreen(s watchScreen) WatchKeyMap {
	table, filter, menu, confirm, detail := s == watchTable, s == watchFilter, s == watchMenu, s == watchConfirm, s == watchDetail
	k.Up.SetEnabled(table || menu || detail)
	k.Down.SetEnabled(table || menu || detail)
	k.PgUp.SetEnabled(table || detail)
	k.PgDown.SetEnabled(table || detail)
	k.Open.SetEnabled(table)
	k.Filter.SetEnabled(table)
	k.Revoke.SetEnabled(table || detail)
	k.Quit.SetEnabled(table || detail)
	k.Apply.SetEnabled(filter)
	k.Clear.SetEnabled(filter)
	k.Choose.SetEnabled(menu)
	k.Confirm.SetEnabled(confirm)
	k.Back.SetEnabled(menu || confirm || detail)
	return k
}
