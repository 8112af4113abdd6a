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
Waits until the named files of upload/ (default: every file queued there
now) have been uploaded, printing "PATH UUID" as each one lands. A PATH is
a file (or a folder: the files in it) under MOUNTPOINT/APP/upload/.
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
	app, rel string // the app, and its path in upload/
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
	since := map[string]uint64{}
	for _, a := range st.Apps {
		since[a.Name] = a.LastSeq
	}
	targets, err := waitTargets(mnt, pos[1:], st)
	if err != nil {
		return err
	}
	w := &waiter{out: stdout, since: since, landed: map[string]control.Landed{}}
	for _, a := range st.Apps {
		for _, l := range a.Landed {
			w.landed[a.Name+"\x00"+l.Path] = l // for named files not queued
		}
	}
	w.check(targets, st, true)
	for !allDone(targets) {
		select {
		case <-ctx.Done():
			return w.report(stderr, targets, ctx.Err())
		case <-time.After(waitPoll):
		}
		st, err = c.Status(ctx, true, w.since)
		if err != nil {
			if ctx.Err() != nil {
				return w.report(stderr, targets, ctx.Err())
			}
			return w.report(stderr, targets, err)
		}
		w.landed = map[string]control.Landed{}
		for _, a := range st.Apps {
			for _, l := range a.Landed {
				w.landed[a.Name+"\x00"+l.Path] = l
			}
			w.since[a.Name] = a.LastSeq
		}
		w.check(targets, st, false)
	}
	return w.report(stderr, targets, nil)
}

// waiter follows targets through successive statuses.
type waiter struct {
	out    io.Writer
	since  map[string]uint64         // app -> the last landing seen
	landed map[string]control.Landed // app\0path -> its landing in the last status
	last   map[string]control.Upload // app\0path -> its upload in the last status
}

// check marks the targets that landed (printing them) or failed in st.
// first: st is the status wait began with.
func (w *waiter) check(targets []*target, st control.Status, first bool) {
	w.last = map[string]control.Upload{}
	ignored := map[string]string{}
	for _, a := range st.Apps {
		for _, u := range a.Uploads {
			w.last[a.Name+"\x00"+u.Path] = u
		}
		for _, ig := range a.Ignored {
			ignored[a.Name+"\x00"+strings.TrimSuffix(ig.Path, "/")] = ig.Why
		}
	}
	for _, t := range targets {
		if t.done {
			continue
		}
		key := t.app + "\x00" + t.rel
		u, queued := w.last[key]
		l, landed := w.landed[key]
		switch {
		case landed && (!first || !queued):
			fmt.Fprintf(w.out, "%s %s\n", printable(t.shown), l.UUID)
			t.done = true
		case queued && u.State == control.Failed:
			t.done, t.failure = true, u.Error
		case queued:
		case ignored[key] != "":
			t.done, t.failure = true, "not uploaded: "+ignored[key]
		case first:
			t.done, t.failure = true, "not in upload/ (nor uploaded lately)"
		default:
			t.done, t.failure = true, "left upload/ without being uploaded (removed or renamed?)"
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
		u := w.last[t.app+"\x00"+t.rel]
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

// waitTargets lists the files to wait for: those named by paths (files
// or folders under MNT/APP/upload/), or every upload queued in st.
func waitTargets(mnt string, paths []string, st control.Status) ([]*target, error) {
	var out []*target
	if len(paths) == 0 {
		for _, a := range st.Apps {
			for _, u := range a.Uploads {
				out = append(out, &target{app: a.Name, rel: u.Path, shown: filepath.Join(mnt, a.Name, "upload", filepath.FromSlash(u.Path))})
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
		if err != nil || len(parts) < 2 || parts[0] == ".." || parts[1] != "upload" {
			return nil, fmt.Errorf("%s is not in an upload/ folder of %s", p, mnt)
		}
		app, file := parts[0], ""
		if len(parts) == 3 {
			file = parts[2]
		}
		var under []*target
		for _, a := range st.Apps {
			if a.Name != app {
				continue
			}
			for _, u := range a.Uploads {
				if file == "" || strings.HasPrefix(u.Path, file+"/") {
					under = append(under, &target{app: app, rel: u.Path, shown: filepath.Join(p, filepath.FromSlash(strings.TrimPrefix(u.Path, file)))})
				}
			}
		}
		if file != "" && len(under) == 0 {
			under = []*target{{app: app, rel: file, shown: p}} // a file, queued, landed or not there
		}
		out = append(out, under...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].shown < out[j].shown })
	return out, nil
}
