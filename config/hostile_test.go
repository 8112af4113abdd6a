package config_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatfs/chatfs/config"
)

// Inputs config once accepted that the remote client refuses or
// mishandles (found by FuzzParse).
func TestConfigRefusesWhatTheClientCannotUse(t *testing.T) {
	for _, host := range []string{"https://h?", "https://h#", "https://h/?", "https://h#frag", "https://h?a=b"} {
		assert.Error(t, config.CheckHost(host, false), host)
	}
	assert.NoError(t, config.CheckHost("https://h/", false))
	for _, a := range []config.App{
		{Host: "https://h", AppID: "a..b"},
		{Host: "https://h", Org: "..x", AppName: "y"},
		{Host: "https://h", Org: "x", AppName: "y.."},
	} {
		assert.Error(t, a.Validate(), "%+v", a)
	}
	ok := config.App{Host: "https://h", Org: "x.y", AppName: "a.b"}
	assert.NoError(t, ok.Validate())
}
