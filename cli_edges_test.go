package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fuseMountsAt counts the FUSE mounts at mnt in /proc/self/mountinfo.
func fuseMountsAt(t *testing.T, mnt string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == mnt && strings.Contains(line, " - fuse") {
			n++
		}
	}
	return n
}

// TestRefusedSecondMountKeepsEmbeddedPort: a second mount on the same
// state is refused before it starts an emulator or touches the port file,
// so the first mount's recorded URLs stay valid.
func TestRefusedSecondMountKeepsEmbeddedPort(t *testing.T) {
	state := t.TempDir()
	startCLIMount(t, t.TempDir(), "--state", state)
	addrFile := filepath.Join(state, "data", "embedded", "addr")
	before, err := os.ReadFile(addrFile)
	require.NoError(t, err)

	code, stdout, stderr := cliRun(t, "mount", "--state", state, t.TempDir())
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "in use by another chatfs")
	assert.NotContains(t, stdout, "serving the embedded chatfiles emulator")
	after, err := os.ReadFile(addrFile)
	require.NoError(t, err)
	assert.Equal(t, string(before), string(after), "the port file is the first mount's")
}

// TestMountPointAndFlagsCheckedFirst: a mount point that is missing, not a
// directory or already a FUSE mount, and bad flags, are refused before
// anything starts: no emulator, no state, no mount left behind.
func TestMountPointAndFlagsCheckedFirst(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	live := t.TempDir()
	startCLIMount(t, live, "--state", t.TempDir())

	for _, c := range []struct {
		name, mnt, want string
		flags           []string
	}{
		{"missing", filepath.Join(t.TempDir(), "nope"), "does not exist", nil},
		{"a regular file", file, "not a directory", nil},
		{"a live mount", live, "already a FUSE mount", nil},
		{"bad thumbnail size", t.TempDir(), "thumbnail size", []string{"--thumbnail-size", "big"}},
		{"bad max size", t.TempDir(), "max_size", []string{"--max-size", "-1"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			state := t.TempDir()
			args := append(append([]string{"mount", "--state", state}, c.flags...), c.mnt)
			code, stdout, stderr := cliRun(t, args...)
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr, c.want)
			assert.NotContains(t, stdout, "serving the embedded chatfiles emulator")
			_, err := os.Stat(filepath.Join(state, "data"))
			assert.ErrorIs(t, err, os.ErrNotExist, "no state made")
			if c.mnt == live {
				assert.Equal(t, 1, fuseMountsAt(t, live), "no second mount stacked")
			} else {
				assert.Zero(t, fuseMountsAt(t, c.mnt))
			}
		})
	}
}
