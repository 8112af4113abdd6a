package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/chatfs/chatfs/internal/control"
)

const waitAbout = `
Waits until the named files of upload/ and send/ (default: every file
queued in either now) have landed, printing "PATH UUID" as each file of
upload/ is uploaded, and "PATH UUID MSG_ID" as each file of send/ is sent
(MSG_ID is the message's id; left out when the service gave none). A PATH
is a file (or a folder: the files in it) under MOUNTPOINT/APP/upload/ or
MOUNTPOINT/APP/send/.
Exit status: 0 when all landed; 1 when some failed (the reasons go to
stderr) or the mount stopped; 2 on timeout (what is still waiting, and
why, goes to stderr) or a wrong command line.

  cp *.pdf MNT/demo/upload/ && chatfs wait MNT`

// errTimeout: wait gave up (exit 2).
var errTimeout = errors.New("timed out")

// waitPoll is how often wait asks the mount.
const waitPoll = 200 * time.Millisecond

// target is a file wait waits for.
type target struct {
	app, rel string // the app, and its path in upload/ (or send/)
	send     bool   // a file of send/
	shown    string // how it is printed
	done     bool
	failure  string // why it will not land; "" while waiting or landed
}

func runWait(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := newFlagSet("wait", "[--timeout D] MOUNTPOINT [PATH...]", waitAbout, stderr)
	timeout := fl.Duration("timeout", 0, "give up after this long (exit 2); 0 waits for as long as it takes")
	pos, err := parseFlags(fl, args)
	if err != nil {
		return usageErr(err)
	}
	if len(pos) < 1 || *timeout < 0 {
		fmt.Fprintln(stderr, "usage: chatfs wait [--timeout D] MOUNTPOINT [PATH...] (chatfs help wait)")
		return errUsage
	}
	mnt := pos[0]
	if *timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *timeout)
		defer cancel()
	}
	c, err := control.Dial(ctx, mnt)
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Status(ctx, true, nil)
	if err != nil {
		return err
	}
	// Landings up to now are old, except for files named that are not
	// queued: they may have landed just before wait began.
	w := &waiter{out: stdout, since: map[string]uint64{}, sendsSince: map[string]uint64{}}
	targets, err := waitTargets(mnt, pos[1:], st)
	if err != nil {
		return err
	}
	w.note(st) // for named files not queued
	w.check(targets, st, true)
	for !allDone(targets) {
		select {
		case <-ctx.Done():
			return w.report(stderr, targets, ctx.Err())
		case <-time.After(waitPoll):
		}
		st, err = c.Ask(ctx, control.Request{Landed: true, Since: w.since, SendsSince: w.sendsSince})
		if err != nil {
			if ctx.Err() != nil {
				return w.report(stderr, targets, ctx.Err())
			}
			return w.report(stderr, targets, err)
		}
		w.note(st)
		w.check(targets, st, false)
	}
	return w.report(stderr, targets, nil)
}

// waiter follows targets through successive statuses.
type waiter struct {
	out        io.Writer
	since      map[string]uint64         // app -> the last landing seen
	sendsSince map[string]uint64         // app -> the last send landed seen
	landed     map[string]control.Landed // key -> its landing in the last status
	msgIDs     map[string]string         // key -> the message id of a send landed in the last status
	last       map[string]control.Upload // key -> its upload (or send) in the last status
}

// key is a target's key in the waiter's maps: app\0path for uploads,
// app\0send\0path for sends (upload/send/x and send/x are two files).
func key(app, rel string, send bool) string {
	if send {
		return app + "\x00send\x00" + rel
	}
	return app + "\x00" + rel
}

// note takes the landings of st, and moves since past them.
func (w *waiter) note(st control.Status) {
	w.landed, w.msgIDs = map[string]control.Landed{}, map[string]string{}
	for _, a := range st.Apps {
		for _, l := range a.Landed {
			w.landed[key(a.Name, l.Path, false)] = l
		}
		for _, l := range a.SendsLanded {
			k := key(a.Name, l.Path, true)
			w.landed[k] = control.Landed{Seq: l.Seq, Path: l.Path, UUID: l.UUID, Size: l.Size, Time: l.Time}
			w.msgIDs[k] = l.MsgID
		}
		w.since[a.Name], w.sendsSince[a.Name] = a.LastSeq, a.SendsLastSeq
	}
}

// check marks the targets that landed (printing them) or failed in st.
// first: st is the status wait began with.
func (w *waiter) check(targets []*target, st control.Status, first bool) {
	w.last = map[string]control.Upload{}
	ignored := map[string]string{}
	for _, a := range st.Apps {
		for _, u := range a.Uploads {
			w.last[key(a.Name, u.Path, false)] = u
		}
		for _, s := range a.Sends {
			w.last[key(a.Name, s.Path, true)] = sendAsUpload(s)
		}
		for _, ig := range a.Ignored {
			ignored[key(a.Name, strings.TrimSuffix(ig.Path, "/"), false)] = ig.Why
		}
	}
	for _, t := range targets {
		if t.done {
			continue
		}
		k := key(t.app, t.rel, t.send)
		u, queued := w.last[k]
		l, landed := w.landed[k]
		folder, done := "upload/", "uploaded"
		if t.send {
			folder, done = "send/", "sent"
		}
		switch {
		case landed && (!first || !queued):
			line := printable(t.shown) + " " + l.UUID
			if id := w.msgIDs[k]; id != "" {
				line += " " + printable(id)
			}
			fmt.Fprintln(w.out, line)
			t.done = true
		case queued && u.State == control.Failed:
			t.done, t.failure = true, u.Error
		case queued:
		case ignored[k] != "":
			t.done, t.failure = true, "not uploaded: "+ignored[k]
		case first:
			t.done, t.failure = true, "not in "+folder+" (nor "+done+" lately)"
		default:
			t.done, t.failure = true, "left "+folder+" without being "+done+" (removed or renamed?)"
		}
	}
}

// report ends wait: failures and, when it stopped early (why), what is
// still waiting go to stderr; the error sets the exit status.
func (w *waiter) report(stderr io.Writer, targets []*target, why error) error {
	failed := 0
	for _, t := range targets {
		if t.failure != "" {
			failed++
			fmt.Fprintf(stderr, "chatfs wait: %s: failed: %s\n", printable(t.shown), printable(t.failure))
		}
	}
	pending := 0
	for _, t := range targets {
		if t.done {
			continue
		}
		pending++
		u := w.last[key(t.app, t.rel, t.send)]
		line := fmt.Sprintf("chatfs wait: %s: still %s", printable(t.shown), u.State)
		if u.Error != "" {
			line += ": last error: " + printable(u.Error)
		}
		fmt.Fprintln(stderr, line)
	}
	switch {
	case pending > 0 && errors.Is(why, context.DeadlineExceeded):
		return fmt.Errorf("%w: %d of %d files not landed", errTimeout, pending, len(targets))
	case pending > 0:
		return fmt.Errorf("%d of %d files not landed: %w", pending, len(targets), why)
	case failed > 0:
		return errFailed
	}
	return nil
}

func allDone(targets []*target) bool {
	for _, t := range targets {
		if !t.done {
			return false
		}
	}
	return true
}

// queued lists the paths queued in an app's upload/ (or send/) in st.
func queued(a control.App, send bool) []string {
	var out []string
	if send {
		for _, s := range a.Sends {
			out = append(out, s.Path)
		}
		return out
	}
	for _, u := range a.Uploads {
		out = append(out, u.Path)
	}
	return out
}

// waitTargets lists the files to wait for: those named by paths (files
// or folders under MNT/APP/upload/ or MNT/APP/send/), or every upload and
// send queued in st.
func waitTargets(mnt string, paths []string, st control.Status) ([]*target, error) {
	var out []*target
	if len(paths) == 0 {
		for _, a := range st.Apps {
			for _, send := range []bool{false, true} {
				folder := map[bool]string{false: "upload", true: "send"}[send]
				for _, p := range queued(a, send) {
					out = append(out, &target{app: a.Name, rel: p, send: send, shown: filepath.Join(mnt, a.Name, folder, filepath.FromSlash(p))})
				}
			}
		}
		return out, nil
	}
	absMnt, err := filepath.Abs(mnt)
	if err != nil {
		return nil, err
	}
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return nil, err
		}
		rel, err := filepath.Rel(absMnt, abs)
		parts := strings.SplitN(filepath.ToSlash(rel), "/", 3)
		if err != nil || len(parts) < 2 || parts[0] == ".." || (parts[1] != "upload" && parts[1] != "send") {
			return nil, fmt.Errorf("%s is not in an upload/ or send/ folder of %s", p, mnt)
		}
		app, send, file := parts[0], parts[1] == "send", ""
		if len(parts) == 3 {
			file = parts[2]
		}
		var under []*target
		for _, a := range st.Apps {
			if a.Name != app {
				continue
			}
			for _, q := range queued(a, send) {
				if file == "" || strings.HasPrefix(q, file+"/") {
					under = append(under, &target{app: app, rel: q, send: send, shown: filepath.Join(p, filepath.FromSlash(strings.TrimPrefix(q, file)))})
				}
			}
		}
		if file != "" && len(under) == 0 {
			under = []*target{{app: app, rel: file, send: send, shown: p}} // a file, queued, landed or not there
		}
		out = append(out, under...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].shown < out[j].shown })
	return out, nil
}
