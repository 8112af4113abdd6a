package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/sys/unix"

	"github.com/chatfs/chatfs/internal/control"
)

// watchPoll is how often status --watch asks the mount.
const watchPoll = 250 * time.Millisecond

// event is one change between two statuses, as a line of status --watch.
type event struct {
	key  string // app/path
	what string // queued, uploading, retry, failed, landed, gone
	text string // the line, after what and key
	up   control.Upload
}

// diffStatus lists what changed from prev to cur: files queued, starting
// to upload, backing off after a failure, failed, landed (with the uuid,
// from cur's landings) or gone from upload/ otherwise.
func diffStatus(prev, cur map[string]control.Upload, landed map[string]control.Landed, now time.Time) []event {
	var out []event
	keys := make([]string, 0, len(cur))
	for k := range cur {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		u, p := cur[k], prev[k]
		_, had := prev[k]
		switch {
		case !had && u.State == control.Failed, had && p.State != control.Failed && u.State == control.Failed:
			out = append(out, event{k, "failed", printable(u.Error), u})
		case !had:
			out = append(out, event{k, "queued", size(u.Size), u})
		case u.State == control.Uploading && p.State != control.Uploading:
			out = append(out, event{k, "uploading", size(u.Size), u})
		case u.State == control.Sending && p.State != control.Sending:
			out = append(out, event{k, "sending", size(u.Size), u})
		case u.Attempts > p.Attempts && u.State == control.Waiting:
			line := attempts(u.Attempts) + " failed"
			if !u.NextRetry.IsZero() {
				line += ", next try in " + u.NextRetry.Sub(now).Round(time.Second).String()
			}
			out = append(out, event{k, "retry", line + ": " + printable(u.Error), u})
		}
	}
	keys = keys[:0]
	for k := range prev {
		if _, ok := cur[k]; !ok {
			keys = append(keys, k)
		}
	}
	for k := range landed {
		if _, ok := prev[k]; !ok {
			if _, ok := cur[k]; !ok {
				keys = append(keys, k) // queued and landed between two polls
			}
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if l, ok := landed[k]; ok {
			out = append(out, event{k, "landed", l.UUID, prev[k]})
		} else {
			out = append(out, event{k, "gone", "left upload/ without being uploaded", prev[k]})
		}
	}
	return out
}

// diffSends is diffStatus for the files of send/ (keys app/send/PATH): a
// landing is "sent" with the uuid and the message's id (msgIDs, by key).
func diffSends(prev, cur map[string]control.Upload, landed map[string]control.Landed, msgIDs map[string]string, now time.Time) []event {
	out := diffStatus(prev, cur, landed, now)
	for i, e := range out {
		switch e.what {
		case "landed":
			out[i].what = "sent"
			if id := msgIDs[e.key]; id != "" {
				out[i].text += " " + printable(id)
			}
		case "gone":
			out[i].text = "left send/ without being sent"
		}
	}
	return out
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	return err == nil
}

// runWatch follows the mount until ctx ends (an interrupt: nil) or the
// mount stops (an error): on a terminal with a progress bar per upload in
// flight (bytes sent of total, rate, ETA) and the events above them;
// otherwise one line per event.
func runWatch(ctx context.Context, c *control.Client, stdout io.Writer) error {
	// Uploads and sends are kept apart: upload/send/x and send/x are
	// different files with the same key.
	var bars, sendBars *barSet
	out := stdout
	if isTerminal(stdout) {
		p := mpb.NewWithContext(ctx, mpb.WithOutput(stdout), mpb.WithWidth(40), mpb.WithRefreshRate(200*time.Millisecond))
		bars = &barSet{p: p, bars: map[string]*trackedBar{}}
		sendBars = &barSet{p: p, bars: map[string]*trackedBar{}}
		out = p
		defer p.Shutdown()
	}
	since, sendsSince := map[string]uint64{}, map[string]uint64{}
	var prev, prevSends map[string]control.Upload
	// Landings not yet reported: a file is recorded as landed just before
	// it leaves upload/ (or send/), so a poll may see both, and the next
	// neither.
	landed, sent := map[string]control.Landed{}, map[string]control.Landed{}
	msgIDs := map[string]string{}
	first := true
	for {
		st, err := c.Ask(ctx, control.Request{Landed: !first, Since: since, SendsSince: sendsSince})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%w (the mount stopped?)", err)
		}
		cur, curSends := map[string]control.Upload{}, map[string]control.Upload{}
		for _, a := range st.Apps {
			for _, u := range a.Uploads {
				cur[a.Name+"/"+u.Path] = u
			}
			for _, l := range a.Landed {
				landed[a.Name+"/"+l.Path] = l
			}
			since[a.Name] = a.LastSeq
			for _, s := range a.Sends {
				curSends[a.Name+"/send/"+s.Path] = sendAsUpload(s)
			}
			for _, l := range a.SendsLanded {
				k := a.Name + "/send/" + l.Path
				sent[k] = control.Landed{Seq: l.Seq, Path: l.Path, UUID: l.UUID, Size: l.Size, Time: l.Time}
				msgIDs[k] = l.MsgID
			}
			sendsSince[a.Name] = a.SendsLastSeq
		}
		events := diffStatus(prev, cur, landed, st.Time)
		sendEvents := diffSends(prevSends, curSends, sent, msgIDs, st.Time)
		for _, e := range append(events, sendEvents...) {
			fmt.Fprintf(out, "%s %s %s\n", e.what, printable(e.key), e.text)
		}
		if bars != nil {
			bars.update(cur, landed)
			sendBars.update(curSends, sent)
		}
		for _, e := range events {
			if e.what == "landed" {
				delete(landed, e.key)
			}
		}
		for _, e := range sendEvents {
			if e.what == "sent" {
				delete(sent, e.key)
				delete(msgIDs, e.key)
			}
		}
		prev, prevSends, first = cur, curSends, false
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(watchPoll):
		}
	}
}

// barSet is the progress bars of the uploads in flight.
type barSet struct {
	p    *mpb.Progress
	bars map[string]*trackedBar
}

type trackedBar struct {
	bar  *mpb.Bar
	last time.Time
}

// update moves each upload's bar to its bytes sent, makes bars for new
// uploads and ends those of uploads no longer in flight. A send's bar
// stays full while its message is being sent.
func (b *barSet) update(cur map[string]control.Upload, landed map[string]control.Landed) {
	now := time.Now()
	for k, u := range cur {
		if u.State == control.Sending {
			u.Sent = u.Size
		}
		if u.State != control.Uploading && (u.State != control.Sending || b.bars[k] == nil) {
			continue
		}
		tb := b.bars[k]
		if tb == nil {
			bar := b.p.AddBar(max(u.Size, 1),
				mpb.PrependDecorators(decor.Name(printable(k), decor.WC{C: decor.DindentRight | decor.DextraSpace})),
				mpb.AppendDecorators(
					decor.CountersKibiByte("% .1f / % .1f"),
					decor.Name("  "),
					decor.EwmaSpeed(decor.SizeB1024(0), "% .1f", 30),
					decor.Name("  ETA "),
					decor.EwmaETA(decor.ET_STYLE_GO, 30),
				),
				mpb.BarRemoveOnComplete(),
			)
			tb = &trackedBar{bar: bar, last: now}
			b.bars[k] = tb
		}
		tb.bar.EwmaSetCurrent(min(u.Sent, u.Size), now.Sub(tb.last))
		tb.last = now
	}
	for k, tb := range b.bars {
		if u, ok := cur[k]; ok && (u.State == control.Uploading || u.State == control.Sending) {
			continue
		}
		if _, ok := landed[k]; ok {
			tb.bar.SetTotal(-1, true)
		} else {
			tb.bar.Abort(true)
		}
		delete(b.bars, k)
	}
}
