package fs

import (
	"bytes"
	"context"
	"log"
	"log/slog"
	"strconv"
	"strings"
)

// traceLogger is the log sink handed to go-fuse. Its request trace
// (--debug) quotes the first bytes of every payload: file data of WRITE
// and READ, xattr values such as share-secrets. traceLogger keeps the
// opcode, node, flags, offsets, sizes and errno of each line, and the file
// and attribute names of the operations that take them, and replaces every
// other quoted string with "…". go-fuse's other messages (mount, unmount,
// errors) are logged at level; the trace only at debug.
func traceLogger(l *slog.Logger, level slog.Level) *log.Logger {
	return log.New(&traceWriter{log: l, level: level}, "", 0)
}

type traceWriter struct {
	log   *slog.Logger
	level slog.Level
}

func (w *traceWriter) Write(p []byte) (int, error) {
	for _, line := range bytes.Split(bytes.TrimRight(p, "\n"), []byte("\n")) {
		s := string(line)
		level := w.level
		if strings.HasPrefix(s, "rx ") || strings.HasPrefix(s, "tx ") {
			level = slog.LevelDebug
		}
		w.log.Log(context.Background(), level, "fuse", "trace", sanitizeTrace(s))
	}
	return len(p), nil
}

// traceNames is how many quoted names an incoming request of each opcode
// carries before its payload: file names, and the xattr name (never the
// value). Unknown opcodes keep none.
var traceNames = map[string]int{
	"LOOKUP": 1, "CREATE": 1, "MKDIR": 1, "MKNOD": 1, "UNLINK": 1, "RMDIR": 1, "LINK": 1,
	"GETXATTR": 1, "SETXATTR": 1, "REMOVEXATTR": 1,
	"RENAME": 2, "RENAME2": 2, "SYMLINK": 2,
}

// sanitizeTrace redacts the quoted strings of a go-fuse debug line that
// may hold content: all of them in replies ("tx N: …") and in lines that
// are not requests, all but the leading names in requests ("rx N: OP …").
func sanitizeTrace(s string) string {
	keep := 0
	if f := strings.Fields(s); len(f) >= 3 && f[0] == "rx" {
		keep = traceNames[f[2]]
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '"' {
			b.WriteByte(s[i])
			i++
			continue
		}
		q, err := strconv.QuotedPrefix(s[i:])
		if err != nil {
			b.WriteString(`"…"`) // unterminated: drop the rest
			break
		}
		if keep > 0 {
			b.WriteString(q)
			keep--
		} else {
			b.WriteString(`"…"`)
		}
		i += len(q)
		if strings.HasPrefix(s[i:], "...") {
			i += 3
		}
	}
	return b.String()
}
