package fs

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/chatfs/chatfs/internal/testutil"
)

func TestSanitizeTrace(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`rx 38: WRITE n6 {Fh 1 [0 +48)  L 0 WRONLY}"MARKER-7"... 48b p18065`, `rx 38: WRITE n6 {Fh 1 [0 +48)  L 0 WRONLY}"…" 48b p18065`},
		{`tx 158:     OK,  48b data "lxUiiQPk"...`, `tx 158:     OK,  48b data "…"`},
		{`rx 170: SETXATTR n5 {sz 24 f0} "user.note" "MARKER-7"... 24b p1`, `rx 170: SETXATTR n5 {sz 24 f0} "user.note" "…" 24b p1`},
		{`rx 158: GETXATTR n8 {sz 65536} "user.chatfs.share_secret"  p1`, `rx 158: GETXATTR n8 {sz 65536} "user.chatfs.share_secret"  p1`},
		{`rx 30: LOOKUP n5  "m.txt"  p1`, `rx 30: LOOKUP n5  "m.txt"  p1`},
		{`rx 9: RENAME n5 {n5 fl 0} "a.part" "a"  p1`, `rx 9: RENAME n5 {n5 fl 0} "a.part" "a"  p1`},
		{`rx 9: UNKNOWN n5 "x\"y"... p1`, `rx 9: UNKNOWN n5 "…" p1`},
		{`tx 128:     OK,  "../files/x"`, `tx 128:     OK,  "…"`},
		{`tx 4: OK, 4096b data "\x00ab`, `tx 4: OK, 4096b data "…"`},
		{`rx 5: READ n8 {Fh 1 [0 +4096)  L 0 RDONLY} p1`, `rx 5: READ n8 {Fh 1 [0 +4096)  L 0 RDONLY} p1`},
	} {
		assert.Equal(t, c.want, sanitizeTrace(c.in), c.in)
	}
}

func TestTraceLoggerLevels(t *testing.T) {
	var buf testutil.SyncBuffer
	l := traceLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})), slog.LevelWarn)
	l.Printf("rx 38: WRITE n6 {Fh 1}\"secret!!\"... 48b p1")
	l.Printf("Failed to read from fuse conn: %v", "EIO")
	out := buf.String()
	assert.NotContains(t, out, "WRITE", "the request trace is debug only")
	assert.Contains(t, out, "level=WARN")
	assert.Contains(t, out, "Failed to read from fuse conn")
	assert.Equal(t, 1, strings.Count(out, "\n"))
}
