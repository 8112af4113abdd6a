package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHistoryKeys(t *testing.T) {
	c, err := Parse([]byte("[[app]]\nhost = \"https://h\"\napp_id = \"a\"\n"))
	require.NoError(t, err)
	a := c.Apps[0]
	assert.Equal(t, 72*time.Hour, a.HistoryWindow(), "on by default")
	loc, err := a.HistoryLocation()
	require.NoError(t, err)
	assert.Equal(t, time.UTC, loc)

	c, err = Parse([]byte("[[app]]\nhost = \"https://h\"\napp_id = \"a\"\nhistory = \"0s\"\nhistory_tz = \"UTC+8\"\nhistory_interval = \"1h\"\n"))
	require.NoError(t, err)
	a = c.Apps[0]
	assert.Zero(t, a.HistoryWindow(), "0 is off")
	assert.Equal(t, time.Hour, a.HistoryInterval)
	loc, err = a.HistoryLocation()
	require.NoError(t, err)
	assert.Equal(t, "2026112815", time.Date(2026, 11, 28, 7, 0, 0, 0, time.UTC).In(loc).Format("2006010215"))

	// What `chatfs serve --history-tz` takes, the mount takes too.
	for _, tz := range []string{"UTC+8", "UTC+08", "UTC+08:00", "utc+8"} {
		a := App{HistoryTZ: tz}
		loc, err := a.HistoryLocation()
		require.NoError(t, err, tz)
		_, off := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).In(loc).Zone()
		assert.Equal(t, 8*3600, off, tz)
	}

	for _, bad := range []string{`history = "-1h"`, `history_tz = "Mars/Base"`, `history_interval = "1ms"`} {
		_, err := Parse([]byte("[[app]]\nhost = \"https://h\"\napp_id = \"a\"\n" + bad + "\n"))
		assert.Error(t, err, bad)
	}
}
