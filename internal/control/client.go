package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
)

// Client is a connection to a mount's control socket. It is not safe for
// concurrent use.
type Client struct {
	c  net.Conn
	rd *bufio.Reader
}

// ErrNotMount: the path is not the root of a live chatfs mount.
var ErrNotMount = errors.New("not a live chatfs mount")

// SocketOf reads the control socket's path from the root of the mount at
// mountpoint.
func SocketOf(mountpoint string) (string, error) {
	v, err := getxattr(mountpoint, XattrName)
	if err != nil {
		return "", fmt.Errorf("%s is %w (%v)", mountpoint, ErrNotMount, err)
	}
	return strings.TrimSpace(v), nil
}

// Dial connects to the mount at mountpoint.
func Dial(ctx context.Context, mountpoint string) (*Client, error) {
	path, err := SocketOf(mountpoint)
	if err != nil {
		return nil, err
	}
	return DialSocket(ctx, path)
}

// DialSocket connects to the control socket at path.
func DialSocket(ctx context.Context, path string) (*Client, error) {
	addr, closeDir, err := shortAddr(path)
	if err != nil {
		return nil, err
	}
	defer closeDir()
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", addr)
	if err != nil {
		if errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("%w: only the user who mounted it (or root) may ask it", err)
		}
		return nil, err
	}
	return &Client{c: c, rd: bufio.NewReaderSize(c, 64<<10)}, nil
}

// Status asks for the mount's status; landed and since are as in Request.
func (c *Client) Status(ctx context.Context, landed bool, since map[string]uint64) (Status, error) {
	return c.Ask(ctx, Request{Op: "status", Landed: landed, Since: since})
}

// Ask sends r (its Op is set to "status") and reads the answer.
func (c *Client) Ask(ctx context.Context, r Request) (Status, error) {
	r.Op = "status"
	if dl, ok := ctx.Deadline(); ok {
		_ = c.c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.c.Close() })
	defer stop()
	b, _ := json.Marshal(r)
	if _, err := c.c.Write(append(b, '\n')); err != nil {
		return Status{}, c.err(ctx, err)
	}
	line, err := c.rd.ReadBytes('\n')
	if err != nil {
		return Status{}, c.err(ctx, err)
	}
	var s Status
	if err := json.Unmarshal(line, &s); err != nil || s.Version == 0 {
		return Status{}, fmt.Errorf("control: unexpected answer from the mount: %.200q", line)
	}
	return s, nil
}

func (c *Client) err(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("control: the mount stopped answering: %w", err)
}

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close() }
