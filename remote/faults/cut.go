package faults

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
)

// errCut is what the wrapped handler's writes return once the connection
// has been cut.
var errCut = errors.New("faults: connection cut")

// maxBuffer bounds the body a truncation buffers to learn its length when
// the handler announces none. Past it the body is cut where it stands.
const maxBuffer = 16 << 20

// cutWriter passes a handler's answer on until a cut point, then closes
// the connection: DropBody and Truncate.
//
// The cut point is the fraction cut of the body's length: the
// Content-Length the handler announced, else (DropBody) the length of its
// first write. Truncate always announces a length: when the handler gives
// none, the body is buffered (up to maxBuffer) and announced whole.
// It is used by one handler goroutine only.
type cutWriter struct {
	w        http.ResponseWriter
	cut      float64 // in [0, 1)
	truncate bool

	status      int
	wroteHeader bool
	buffering   bool         // truncate of a body without Content-Length
	buf         bytes.Buffer // the buffered body
	limit       int64        // body bytes to pass on; -1 until known
	sent        int64
	done        bool // the connection is cut
}

func (c *cutWriter) Header() http.Header { return c.w.Header() }

func (c *cutWriter) WriteHeader(code int) {
	if c.wroteHeader || c.done {
		return
	}
	if code >= 100 && code < 200 {
		c.w.WriteHeader(code) // informational: pass on, the real one follows
		return
	}
	c.wroteHeader, c.status = true, code
	if n, err := strconv.ParseInt(c.w.Header().Get("Content-Length"), 10, 64); err == nil && n >= 0 {
		c.limit = int64(c.cut * float64(n))
	} else if c.truncate {
		c.buffering = true
		return
	}
	c.w.WriteHeader(code)
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if c.done {
		return 0, errCut
	}
	if c.buffering {
		if c.buf.Len()+len(p) <= maxBuffer {
			return c.buf.Write(p)
		}
		// Too long to learn its length: cut within what is buffered.
		c.buffering = false
		c.w.WriteHeader(c.status)
		c.limit = int64(c.cut * float64(c.buf.Len()))
		_, _ = c.w.Write(c.buf.Bytes()[:c.limit])
		c.cutConn()
		return 0, errCut
	}
	if c.limit < 0 {
		c.limit = int64(c.cut * float64(len(p)))
	}
	n := int(min(int64(len(p)), c.limit-c.sent))
	n, err := c.w.Write(p[:n])
	c.sent += int64(n)
	if err != nil {
		return n, err
	}
	if n < len(p) {
		c.cutConn()
		return n, errCut
	}
	return n, nil
}

// FlushError lets the handler flush through; a buffered body stays put.
func (c *cutWriter) FlushError() error {
	if c.done {
		return errCut
	}
	if c.buffering {
		return nil
	}
	return http.NewResponseController(c.w).Flush()
}

// finish cuts the answer once the handler has returned, if it was not cut
// yet: a buffered body is announced whole and sent in part.
func (c *cutWriter) finish() {
	if c.done {
		return
	}
	if !c.wroteHeader {
		c.WriteHeader(http.StatusOK)
	}
	if c.buffering {
		c.buffering = false
		c.w.Header().Set("Content-Length", strconv.Itoa(c.buf.Len()))
		c.w.WriteHeader(c.status)
		_, _ = c.w.Write(c.buf.Bytes()[:int(c.cut*float64(c.buf.Len()))])
	}
	c.cutConn()
}

// cutConn flushes what was written and closes the connection.
func (c *cutWriter) cutConn() {
	c.done = true
	rc := http.NewResponseController(c.w)
	_ = rc.Flush()
	closeConn(rc)
}
