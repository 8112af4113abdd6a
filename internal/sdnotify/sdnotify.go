// Package sdnotify tells a service manager about the service's state
// over the sd_notify protocol: datagrams of "KEY=VALUE" lines sent to the
// unix socket named by $NOTIFY_SOCKET (a leading '@' names an abstract
// socket). systemd's Type=notify units set it; without it, nothing is
// sent. See sd_notify(3).
package sdnotify

import (
	"net"
	"os"
	"strings"
)

// Messages.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
)

// Status is a STATUS= line: a one-line description of the service's state.
func Status(s string) string {
	return "STATUS=" + strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}

// Notify sends the lines as one datagram to $NOTIFY_SOCKET. It reports
// false, with no error, when there is none.
func Notify(lines ...string) (bool, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return false, nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return false, err
	}
	defer c.Close()
	if _, err := c.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		return false, err
	}
	return true, nil
}
