package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/chatfs/chatfs/internal/smallfile"
)

// TokenEnv is the environment variable TokenFromEnv reads.
const TokenEnv = "CHATFS_TOKEN"

// ErrNoBetterToken is returned (wrapped) by Renew when the source has no
// token other than the one the server refused.
var ErrNoBetterToken = errors.New("remote: no other token available")

// NewStaticToken returns a TokenSource that always gives tok. Its Renew
// fails with ErrNoBetterToken. The token never appears in its String,
// GoString or slog rendering.
func NewStaticToken(tok string) TokenSource { return staticToken{tok: strings.TrimSpace(tok)} }

type staticToken struct{ tok string }

func (s staticToken) Token(context.Context) (string, error) {
	if s.tok == "" {
		return "", errors.New("remote: empty token")
	}
	return s.tok, nil
}

func (s staticToken) Renew(context.Context, string) (string, error) {
	return "", fmt.Errorf("remote: static token refused: %w", ErrNoBetterToken)
}

// String, GoString and LogValue keep the token out of logs and messages.
func (staticToken) String() string       { return "remote.StaticToken([redacted])" }
func (staticToken) GoString() string     { return "remote.StaticToken([redacted])" }
func (staticToken) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// TokenFromEnv returns a static TokenSource holding $CHATFS_TOKEN, or an
// error when it is unset or blank.
func TokenFromEnv() (TokenSource, error) {
	tok := strings.TrimSpace(os.Getenv(TokenEnv))
	if tok == "" {
		return nil, fmt.Errorf("remote: $%s is not set", TokenEnv)
	}
	return NewStaticToken(tok), nil
}

// NewFileToken returns a TokenSource that reads the token from the file at
// path, surrounding whitespace trimmed. The file is read again whenever its
// size or modification time changes, and by Renew, so a token rotated by
// another program is picked up. An empty file is an error.
func NewFileToken(path string) TokenSource { return &fileToken{path: path} }

// fileToken caches the file's token. Its String gives the path only.
type fileToken struct {
	path string // read only

	mu      sync.Mutex // protects the following; held across the small file read only
	tok     string
	size    int64
	modTime time.Time
}

// String, GoString and LogValue show the path, never the token.
func (f *fileToken) String() string       { return "remote.FileToken(" + f.path + ")" }
func (f *fileToken) GoString() string     { return f.String() }
func (f *fileToken) LogValue() slog.Value { return slog.StringValue(f.String()) }

func (f *fileToken) Token(context.Context) (string, error) {
	fi, err := os.Stat(f.path)
	if err != nil {
		return "", fmt.Errorf("remote: token file: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.tok != "" && fi.Size() == f.size && fi.ModTime().Equal(f.modTime) {
		return f.tok, nil
	}
	return f.readLocked()
}

func (f *fileToken) Renew(_ context.Context, bad string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok, err := f.readLocked()
	if err != nil {
		return "", err
	}
	if tok == bad {
		return "", fmt.Errorf("remote: token file %s still holds the refused token: %w", f.path, ErrNoBetterToken)
	}
	return tok, nil
}

// readLocked reads the file. LOCKS_REQUIRED(f.mu)
func (f *fileToken) readLocked() (string, error) {
	const maxToken = 64 << 10
	data, fi, err := smallfile.Read(f.path, maxToken)
	if err != nil {
		return "", fmt.Errorf("remote: token file: %w", err)
	}
	tok := string(bytes.TrimSpace(data))
	if tok == "" {
		return "", fmt.Errorf("remote: token file %s is empty", f.path)
	}
	f.tok, f.size, f.modTime = tok, fi.Size(), fi.ModTime()
	return tok, nil
}
