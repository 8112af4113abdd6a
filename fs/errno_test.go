package fs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

func TestErrno(t *testing.T) {
	rerr := func(status int, code string) error {
		return fmt.Errorf("wrapped: %w", &remote.Error{Op: "download", Status: status, Code: code})
	}
	netErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	cases := []struct {
		name string
		err  error
		want syscall.Errno
		logs bool
	}{
		{"nil", nil, 0, false},
		{"not a uuid", core.ErrNotExist, syscall.ENOENT, false},
		{"not in the index", fmt.Errorf("x: %w", index.ErrNotFound), syscall.ENOENT, false},
		{"local file gone", &os.PathError{Op: "open", Path: "/x", Err: fs.ErrNotExist}, syscall.ENOENT, false},
		{"404 entity_not_found", rerr(404, "entity_not_found"), syscall.ENOENT, false},
		{"404 file_expired", rerr(404, "file_expired"), syscall.ENOENT, false},
		{"404 app not found", rerr(404, "organization_application_not_found"), syscall.EACCES, true},
		{"past the size limit", core.ErrTooLarge, syscall.EFBIG, false},
		{"413", rerr(413, "file exceeding maximum limit"), syscall.EFBIG, false},
		{"401", rerr(401, "unauthorized"), syscall.EACCES, true},
		{"403", rerr(403, "forbidden_op"), syscall.EACCES, true},
		{"429 resource_limited", rerr(429, "resource_limited"), syscall.EAGAIN, true},
		{"400", rerr(400, "illegal_argument"), syscall.EINVAL, false},
		{"interrupted", context.Canceled, syscall.EINTR, false},
		{"bad lifetime value", fmt.Errorf("x: %w", core.ErrInvalid), syscall.EINVAL, false},
		{"lifetime API off", fmt.Errorf("%w: %v", core.ErrNotSupported, rerr(403, "forbidden_op")), syscall.EOPNOTSUPP, false},
		{"lifetime failed for the file", fmt.Errorf("%w: u", core.ErrLifetimeFailed), syscall.EIO, true},
		{"disk full", &os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, syscall.ENOSPC, false},
		{"500 after retries", rerr(500, ""), syscall.EIO, true},
		{"429 reach_limit after retries", rerr(429, "reach_limit"), syscall.EIO, true},
		{"network error", netErr, syscall.EIO, true},
		{"cut body", io.ErrUnexpectedEOF, syscall.EIO, true},
		{"an errno that must not pass", syscall.ENOSYS, syscall.EIO, true},
		{"anything else", errors.New("boom"), syscall.EIO, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			assert.Equal(t, c.want, errno(log, "read", c.err))
			if c.logs {
				assert.Contains(t, logs.String(), "op=read", "the cause is logged once with the operation")
				assert.Equal(t, 1, bytes.Count(logs.Bytes(), []byte("\n")))
			} else {
				assert.Empty(t, logs.String())
			}
		})
	}
}

// A cause that fails many operations is logged once, then at most once a
// causeRemind with the count of the failures not logged; a new cause at
// once.
func TestErrnoLogsOncePerCause(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		refused := func(uuid string) error {
			return fmt.Errorf("download %s: %w", uuid, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED})
		}
		for i := range 1000 {
			assert.Equal(t, syscall.EIO, errno(log, "read", refused(fmt.Sprint("uuid-", i))))
		}
		assert.Equal(t, 1, bytes.Count(logs.Bytes(), []byte("\n")), logs.String())
		assert.Contains(t, logs.String(), "uuid-0")

		time.Sleep(causeRemind)
		errno(log, "read", refused("uuid-x"))
		assert.Equal(t, 2, bytes.Count(logs.Bytes(), []byte("\n")))
		assert.Contains(t, logs.String(), "failures_not_logged=999")

		errno(log, "read", io.ErrUnexpectedEOF) // a new cause
		errno(log, "read", io.ErrUnexpectedEOF)
		assert.Equal(t, 3, bytes.Count(logs.Bytes(), []byte("\n")))
		errno(log, "lookup", refused("uuid-y")) // back to the first: a change of cause
		assert.Equal(t, 4, bytes.Count(logs.Bytes(), []byte("\n")))
	})
}
