package smallfile

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	require.NoError(t, os.WriteFile(p, []byte("secret\n"), 0o600))
	data, fi, err := Read(p, 100)
	require.NoError(t, err)
	assert.Equal(t, "secret\n", string(data))
	assert.Equal(t, int64(7), fi.Size())

	_, _, err = Read(p, 3)
	assert.ErrorIs(t, err, ErrTooLarge)
	assert.NotContains(t, err.Error(), "secret")

	_, _, err = Read(dir, 100)
	assert.ErrorContains(t, err, "is a directory")
	_, _, err = Read(filepath.Join(dir, "missing"), 100)
	assert.ErrorIs(t, err, os.ErrNotExist)

	_, _, err = Read("/dev/zero", 1<<10)
	assert.ErrorIs(t, err, ErrTooLarge, "a device is not read for ever")
}

func TestReadFIFOWithoutWriterDoesNotHang(t *testing.T) {
	p := filepath.Join(t.TempDir(), "fifo")
	require.NoError(t, syscall.Mkfifo(p, 0o600))
	done := make(chan error, 1)
	go func() {
		data, _, err := Read(p, 100)
		if err == nil && len(data) != 0 {
			err = os.ErrInvalid
		}
		done <- err
	}()
	select {
	case err := <-done:
		assert.NoError(t, err, "reads as empty")
	case <-time.After(5 * time.Second):
		t.Fatal("Read blocked on a FIFO without a writer")
	}
}

func TestCheckPrivate(t *testing.T) {
	dir := t.TempDir()
	for mode, warn := range map[os.FileMode]bool{0o600: false, 0o400: false, 0o640: true, 0o644: true, 0o604: true} {
		p := filepath.Join(dir, mode.String())
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o600))
		require.NoError(t, os.Chmod(p, mode))
		w, err := CheckPrivate(p)
		require.NoError(t, err)
		assert.Equal(t, warn, w != "", mode.String())
	}
	_, err := CheckPrivate(dir)
	assert.ErrorContains(t, err, "not a regular file")
}
