package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLifetimeUserFromConfig(t *testing.T) {
	const base = "[[app]]\nhost = \"https://h\"\napp_id = \"a\"\ntoken_file = \"/t\"\n"
	c, err := Parse([]byte(base + "lifetime_user = \"ops.bot-1\"\n"))
	require.NoError(t, err)
	assert.Equal(t, "ops.bot-1", c.Apps[0].LifetimeUser)
	c, err = Parse([]byte(base))
	require.NoError(t, err)
	assert.Empty(t, c.Apps[0].LifetimeUser, "empty: the core's default, admin")
	for _, bad := range []string{"a/b", "..", "bob smith", "x?y", "ünï"} {
		_, err = Parse([]byte(base + "lifetime_user = \"" + bad + "\"\n"))
		assert.ErrorContains(t, err, "lifetime_user", bad)
	}
}
