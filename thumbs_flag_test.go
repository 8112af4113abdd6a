package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatfs/chatfs/config"
)

// --desktop-thumbnails=false, or desktop_thumbnails = false in the config,
// turns the thumbnail cache off; otherwise it is $XDG_CACHE_HOME/thumbnails.
func TestDesktopThumbnailsSwitch(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	log := slog.New(slog.DiscardHandler)
	no, yes := false, true
	for _, c := range []struct {
		flag bool
		cfg  *bool
		want string
	}{
		{true, nil, filepath.Join(cache, "thumbnails")},
		{true, &yes, filepath.Join(cache, "thumbnails")},
		{false, nil, ""},
		{true, &no, ""},
		{false, &yes, ""},
	} {
		p := mountArgs{thumbnails: c.flag, cfg: &config.Config{DesktopThumbnails: c.cfg}}
		assert.Equal(t, c.want, desktopThumbnails(p, log), "flag %v config %v", c.flag, c.cfg)
	}
	p, err := parseMount([]string{"--desktop-thumbnails=false", t.TempDir()}, discardWriter{})
	if assert.NoError(t, err) {
		assert.False(t, p.thumbnails)
	}
	c, err := config.Parse([]byte("desktop_thumbnails = false\n[[app]]\nhost = \"https://h\"\napp_id = \"a\"\ntoken_file = \"/t\"\n"))
	if assert.NoError(t, err) {
		assert.Equal(t, "", desktopThumbnails(mountArgs{thumbnails: true, cfg: c}, log))
	}
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// The README's config example parses, with the keys this README names.
func TestREADMEConfigExampleParses(t *testing.T) {
	b, err := os.ReadFile("README.md")
	assert.NoError(t, err)
	_, rest, ok := strings.Cut(string(b), "```toml\n")
	assert.True(t, ok)
	block, _, ok := strings.Cut(rest, "```")
	assert.True(t, ok)
	c, err := config.Parse([]byte(block))
	if assert.NoError(t, err) {
		assert.NotNil(t, c.DesktopThumbnails)
		assert.Equal(t, "admin", c.Apps[0].LifetimeUser)
	}
}
