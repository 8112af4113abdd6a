package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetentionFromConfig(t *testing.T) {
	c, err := Parse([]byte("[[app]]\nhost = \"https://h\"\napp_id = \"a\"\ntoken_file = \"/t\"\nretention = \"720h\"\n"))
	require.NoError(t, err)
	assert.Equal(t, 720*time.Hour, c.Apps[0].Retention)
	_, err = Parse([]byte("[[app]]\nhost = \"https://h\"\napp_id = \"a\"\ntoken_file = \"/t\"\nretention = \"-1h\"\n"))
	assert.ErrorContains(t, err, "retention must not be negative")
}
