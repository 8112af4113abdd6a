package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/chatfs/chatfs/internal/control"
)

const statusAbout = `
Lists, for the live mount at MOUNTPOINT, each app's uploads waiting,
uploading and failed (size, attempts, next retry, last error), the files
left in upload/ that will not be uploaded (with why), the files of send/
waiting, uploading, sending and failed, and the download cache's use.
Exit status 1 when an upload or a send has failed, so that
"chatfs status MNT || alert" works. Only the user who mounted it (or root)
may ask. With --watch it follows the mount until interrupted: on a
terminal, a progress bar per upload in flight (bytes sent, rate, ETA) under
the events; otherwise one line per event ("queued", "uploading", "sending", "retry",
"failed", "landed APP/PATH UUID", "sent APP/send/PATH UUID MSG_ID",
"gone").`

// errFailed: the command worked, and found uploads that failed (exit 1,
// with nothing more to say).
var errFailed = errors.New("some uploads or sends failed")

// runStatus prints the status of a live mount, asked over its control
// socket (see internal/control), which answers while the mount runs.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("status", "[flags] MOUNTPOINT", statusAbout, stderr)
	asJSON := fl.Bool("json", false, "print the status as JSON (see the README for the schema)")
	watch := fl.Bool("watch", false, "follow the mount until interrupted: a progress bar per upload on a terminal, else a line per event")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) != 1 || (*watch && *asJSON) {
		fmt.Fprintln(stderr, "usage: chatfs status [--json | --watch] MOUNTPOINT (chatfs help status)")
		return errUsage
	}
	mnt := pos[0]
	c, err := control.Dial(ctx, mnt)
	if err != nil {
		return err
	}
	defer c.Close()
	if *watch {
		return runWatch(ctx, c, stdout)
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := c.Status(cctx, false, nil)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return err
		}
	} else {
		printStatus(stdout, st, time.Now())
	}
	if st.AnyFailed() {
		return errFailed
	}
	return nil
}

// printStatus writes st for a person: one line per app with its counts,
// one per upload and per ignored entry, and the cache's use.
func printStatus(w io.Writer, st control.Status, now time.Time) {
	for _, a := range st.Apps {
		n := map[string]int{}
		for _, u := range a.Uploads {
			n[u.State]++
		}
		fmt.Fprintf(w, "%s: %d waiting, %d uploading, %d failed", printable(a.Name), n[control.Waiting], n[control.Uploading], n[control.Failed])
		if len(a.Ignored) > 0 {
			fmt.Fprintf(w, ", %d ignored", len(a.Ignored))
		}
		fmt.Fprintln(w)
		if a.Disk != "ok" {
			fmt.Fprintf(w, "  disk %s\n", printable(a.Disk))
		}
		if a.History != nil {
			fmt.Fprintf(w, "  history: %s\n", printable(a.History.Line))
		} else {
			fmt.Fprintln(w, "  history: off")
		}
		for _, u := range a.Uploads {
			fmt.Fprintf(w, "  %s: %s\n", u.State, uploadLine(u, now))
		}
		for _, ig := range a.Ignored {
			fmt.Fprintf(w, "  ignored: %s: %s\n", printable(ig.Path), printable(ig.Why))
		}
		printSends(w, a, now)
	}
	fmt.Fprintf(w, "download cache: %s in %d files", size(st.Cache.Bytes), st.Cache.Files)
	if st.Cache.Limit > 0 {
		fmt.Fprintf(w, " (limit %s)", size(st.Cache.Limit))
	}
	fmt.Fprintln(w)
}

// uploadLine describes one upload after its state: path, then what is
// known of it.
func uploadLine(u control.Upload, now time.Time) string {
	var b strings.Builder
	b.WriteString(printable(u.Path))
	switch u.State {
	case control.Failed:
		fmt.Fprintf(&b, ": %s (%s, %s)", printable(u.Error), size(u.Size), attempts(u.Attempts))
	case control.Uploading:
		fmt.Fprintf(&b, " (%s", size(u.Size))
		if u.Sent > 0 && u.Size > 0 {
			fmt.Fprintf(&b, ", %s sent, %d%%", size(u.Sent), u.Sent*100/u.Size)
		}
		b.WriteString(")")
	default:
		fmt.Fprintf(&b, " (%s", size(u.Size))
		if u.Attempts > 0 {
			fmt.Fprintf(&b, ", %s failed", attempts(u.Attempts))
		}
		if !u.NextRetry.IsZero() {
			fmt.Fprintf(&b, ", next try in %s", u.NextRetry.Sub(now).Round(time.Second))
		}
		b.WriteString(")")
		if u.Error != "" {
			fmt.Fprintf(&b, ": %s", printable(u.Error))
		}
	}
	return b.String()
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return strconv.Itoa(n) + " attempts"
}

// size is n bytes for a person: "999 bytes", "1.5 KiB", "12.0 MiB".
func size(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	f, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if f < 1024 {
			break
		}
		f, unit = f/1024, u
	}
	return strconv.FormatFloat(f, 'f', 1, 64) + " " + unit
}

// printable is s as it may go to a terminal: unchanged when it is UTF-8
// with no control characters, else quoted the way strconv.Quote does
// ("esc\x1b[2J.txt"), so a file name cannot move the cursor, clear the
// screen or forge a line of the listing.
func printable(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	return strconv.Quote(s)
}
