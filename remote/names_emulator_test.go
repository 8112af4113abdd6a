package remote_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/remote"
	"github.com/chatfs/chatfs/remote/emulator"
)

// Every name a Linux file system accepts reaches the server exactly: the
// part header carries it percent-encoded in filename* (RFC 5987) when it
// holds control characters or bytes that are not UTF-8, with an ASCII-safe
// filename beside it.
func TestUploadNamesReachTheEmulatorExactly(t *testing.T) {
	e := newEmulator(t, emulator.Options{})
	c := emuClient(t, e, shapes["app-id"])
	names := []string{
		"\xff\xfe.bin",
		"caf\xe9.txt",
		"line\nbreak.txt",
		"carriage\rreturn\r\n.txt",
		"esc\x1b[31mred.txt",
		"bell\a tab\t del\x7f",
		`quote"and\backslash.txt`,
		`"\"%41%'';=.txt`,
		"percent %20 and 'quotes' and UTF-8''x",
		"отчёт 2024 — 图片.pdf",
		strings.Repeat("é", 127) + ".txt",
		"plain.txt",
	}
	for _, name := range names {
		res, err := c.Upload(context.Background(), uploadReq(name))
		require.NoError(t, err, "%q", name)
		got, ok := e.srv.UploadedName(res.UUID)
		require.True(t, ok)
		assert.Equal(t, name, got)
	}
}

func uploadReq(name string) remote.UploadRequest {
	return remote.UploadRequest{Name: name, File: readerAt("data"), Size: 4}
}
