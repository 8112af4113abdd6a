package config

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults of the message history import.
const (
	DefaultHistory         = 72 * time.Hour // the services' default retention of history
	DefaultHistoryInterval = 10 * time.Minute
	MinHistoryInterval     = time.Second
)

// chinaTime is the hours' zone of the export on China clusters.
var chinaTime = time.FixedZone("UTC+8", 8*3600)

// HistoryWindow is how far back the message history is imported: History,
// DefaultHistory when not set; 0 means off.
func (a *App) HistoryWindow() time.Duration {
	if a.History == nil {
		return DefaultHistory
	}
	return *a.History
}

// HistoryLocation is the zone the export names its hours in: UTC (the
// default, international clusters) or UTC+8 (China clusters).
func (a *App) HistoryLocation() (*time.Location, error) {
	switch strings.ToUpper(strings.TrimSpace(a.HistoryTZ)) {
	case "", "UTC", "UTC+0", "Z":
		return time.UTC, nil
	case "UTC+8", "UTC+08", "UTC+08:00", "+8", "+08:00", "CST", "ASIA/SHANGHAI":
		return chinaTime, nil
	}
	return nil, fmt.Errorf("history_tz %q: want UTC or UTC+8", a.HistoryTZ)
}

func (a *App) validateHistory() error {
	if a.History != nil && *a.History < 0 {
		return errors.New("history must not be negative (0 turns the import off)")
	}
	if a.HistoryInterval != 0 && a.HistoryInterval < MinHistoryInterval {
		return fmt.Errorf("history_interval %v: want at least %v", a.HistoryInterval, MinHistoryInterval)
	}
	_, err := a.HistoryLocation()
	return err
}
