package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMakeDirsRefusesStateOthersCanWrite(t *testing.T) {
	for _, c := range []struct {
		name    string
		prepare func(t *testing.T, state string)
	}{
		{"state dir world-writable", func(t *testing.T, state string) { require.NoError(t, os.Chmod(state, 0o777)) }},
		{"state dir group-writable", func(t *testing.T, state string) { require.NoError(t, os.Chmod(state, 0o770)) }},
		{"a dir under it writable", func(t *testing.T, state string) {
			p := filepath.Join(state, "data", "outbox", "demo")
			require.NoError(t, os.MkdirAll(p, 0o700))
			require.NoError(t, os.Chmod(p, 0o757))
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			state := t.TempDir()
			c.prepare(t, state)
			d, err := StateDirs(state)
			require.NoError(t, err)
			err = d.MakeDirs()
			require.ErrorIs(t, err, errLooseState)
			assert.Contains(t, err.Error(), "writable by group or others")
		})
	}
}

func TestMakeDirsRefusesStateOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give a directory to another user")
	}
	for _, sub := range []string{"", "data", filepath.Join("cache", "files")} {
		state := t.TempDir()
		p := filepath.Join(state, sub)
		require.NoError(t, os.MkdirAll(p, 0o700))
		require.NoError(t, os.Chown(p, 65534, 65534))
		d, err := StateDirs(state)
		require.NoError(t, err)
		err = d.MakeDirs()
		require.ErrorIs(t, err, errLooseState, "owner of %q", sub)
		assert.Contains(t, err.Error(), "owned by uid 65534")
		if sub == "" {
			_, err := os.Stat(filepath.Join(state, "data"))
			assert.ErrorIs(t, err, os.ErrNotExist, "nothing is made in a refused tree")
		}
	}
}

func TestMakeDirsMakesAndTightens(t *testing.T) {
	state := filepath.Join(t.TempDir(), "new")
	d, err := StateDirs(state)
	require.NoError(t, err)
	require.NoError(t, d.MakeDirs())
	require.NoError(t, os.Chmod(d.Data, 0o755))
	require.NoError(t, d.MakeDirs())
	for _, p := range []string{d.Data, d.Cache} {
		st, err := os.Stat(p)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o700), st.Mode().Perm(), p)
	}
}
