//go:build linux

package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/config"
)

// Load neither blocks on a named pipe without a writer nor reads a device
// without end; it reads a pipe being written (--config <(command)).
func TestLoadPipesAndDevices(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	done := make(chan error, 1)
	go func() {
		_, err := config.Load(fifo)
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "no [[app]]", "read as an empty config")
	case <-time.After(5 * time.Second):
		t.Fatal("Load blocks on a named pipe without a writer")
	}

	_, err := config.Load("/dev/zero")
	require.ErrorContains(t, err, "larger than")

	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	_, err = w.WriteString("[[app]]\nhost = \"https://h\"\napp_id = \"a\"\n")
	require.NoError(t, err)
	require.NoError(t, w.Close())
	c, err := config.Load(fmt.Sprintf("/proc/self/fd/%d", r.Fd()))
	require.NoError(t, err)
	assert.Equal(t, "a", c.Apps[0].Name)
}
