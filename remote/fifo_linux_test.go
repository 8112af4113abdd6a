//go:build linux

package remote_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
)

// A token file that is a named pipe without a writer fails at once
// instead of blocking for ever; a pipe being written (as --token-file
// <(command) gives) is read.
func TestFileTokenPipes(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	done := make(chan error, 1)
	go func() {
		_, err := remote.NewFileToken(fifo).Token(context.Background())
		done <- err
	}()
	select {
	case err := <-done:
		require.ErrorContains(t, err, "is empty")
	case <-time.After(5 * time.Second):
		t.Fatal("Token blocks on a named pipe without a writer")
	}

	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	_, err = w.WriteString(testToken + "\n")
	require.NoError(t, err)
	require.NoError(t, w.Close())
	tok, err := remote.NewFileToken(fmt.Sprintf("/proc/self/fd/%d", r.Fd())).Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, testToken, tok)
}
