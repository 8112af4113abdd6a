package remote_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
)

func TestFileToken(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte("  tok-1\n"), 0o600))
	ts := remote.NewFileToken(path)

	tok, err := ts.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, "tok-1", tok)

	_, err = ts.Renew(ctx, "tok-1")
	require.ErrorIs(t, err, remote.ErrNoBetterToken, "same token after re-reading")

	require.NoError(t, os.WriteFile(path, []byte("tok-22\n"), 0o600))
	tok, err = ts.Renew(ctx, "tok-1")
	require.NoError(t, err)
	assert.Equal(t, "tok-22", tok)

	// A rotated file is picked up by Token too (size or mtime changed).
	require.NoError(t, os.WriteFile(path, []byte("tok-333"), 0o600))
	future := time.Now().Add(time.Minute)
	require.NoError(t, os.Chtimes(path, future, future))
	tok, err = ts.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, "tok-333", tok)

	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", ts, ts, ts), "tok-333")
}

func TestFileTokenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, []byte(" \n\t"), 0o600))
	_, err := remote.NewFileToken(empty).Token(ctx)
	require.ErrorContains(t, err, "is empty")

	_, err = remote.NewFileToken(filepath.Join(dir, "missing")).Token(ctx)
	require.ErrorIs(t, err, os.ErrNotExist)
}

func TestStaticToken(t *testing.T) {
	ctx := context.Background()
	ts := remote.NewStaticToken(" secret-tok\n")
	tok, err := ts.Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, "secret-tok", tok)
	_, err = ts.Renew(ctx, tok)
	require.ErrorIs(t, err, remote.ErrNoBetterToken)
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v %s", ts, ts, ts, ts), "secret-tok")

	_, err = remote.NewStaticToken("").Token(ctx)
	require.Error(t, err)
}

func TestTokenFromEnv(t *testing.T) {
	t.Setenv(remote.TokenEnv, "")
	_, err := remote.TokenFromEnv()
	require.ErrorContains(t, err, remote.TokenEnv)

	t.Setenv(remote.TokenEnv, "env-tok\n")
	ts, err := remote.TokenFromEnv()
	require.NoError(t, err)
	tok, err := ts.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "env-tok", tok)
}
