package core

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/internal/backoff"
	"github.com/chatfs/chatfs/remote"
)

// HistorySource reads one hour of the message history export. It is safe
// for concurrent use and answers errors remote's predicates classify
// (remote.IsNoHistory, remote.IsHistoryNotStored, remote.IsInvalid);
// *remote.Client is one. It paces itself (10 calls a minute).
type HistorySource interface {
	FetchHistory(ctx context.Context, hour string, maxBytes int64) (remote.HistoryFile, error)
}

// Defaults of the history import.
const (
	DefaultHistoryInterval = 10 * time.Minute
	// historyFinal is how long after its end an hour may still change (an
	// export is made up to 24 h late): until then it is looked at again.
	historyFinal = 24 * time.Hour
	// historyRelook is how often an hour imported, but younger than
	// historyFinal, is looked at again at most.
	historyRelook = time.Hour
)

// Hour states, as the index keeps them and status shows them.
const (
	HourDone        = "done"        // imported
	HourEmpty       = "empty"       // the service has no messages for it
	HourWaiting     = "waiting"     // not made yet: asked again later
	HourUnavailable = "unavailable" // no longer kept, or refused for good
	HourFailed      = "failed"      // failed; asked again after a pause
)

// failedBackoff spaces the attempts at an hour that failed (a network
// failure, a damaged export).
var failedBackoff = backoff.Policy{Initial: time.Minute, Max: time.Hour, Jitter: backoff.Equal}

// importer imports the app's message history: at Start and then every
// interval, every hour of the window, newest first (see round). It is
// owned by the App: Close cancels and waits for it.
type importer struct {
	// read only
	a        *App
	src      HistorySource
	window   time.Duration
	interval time.Duration
	loc      *time.Location
	maxBytes int64
	host     string // the app's host; attachments elsewhere are warned of once
	done     chan struct{}

	failures int // hours that failed this round; only run's goroutine uses it

	mu      sync.Mutex
	current time.Time       // the hour being read; zero between. GUARDED_BY(mu)
	next    time.Time       // when the next round starts. GUARDED_BY(mu)
	warned  map[string]bool // hosts warned of. GUARDED_BY(mu)
}

func newImporter(a *App) *importer {
	o := a.opts
	if o.History == nil || o.HistoryWindow <= 0 {
		return nil
	}
	im := &importer{a: a, src: o.History, window: o.HistoryWindow, interval: o.HistoryInterval,
		loc: o.HistoryLocation, maxBytes: o.HistoryMaxBytes, host: o.HistoryHost,
		done: make(chan struct{}), warned: map[string]bool{}}
	if im.interval <= 0 {
		im.interval = DefaultHistoryInterval
	}
	if im.loc == nil {
		im.loc = time.UTC
	}
	return im
}

// run imports until ctx ends, then closes done.
func (im *importer) run(ctx context.Context) {
	defer close(im.done)
	for {
		im.round(ctx)
		next := im.a.opts.Now().Add(im.interval)
		im.mu.Lock()
		im.next = next.UTC()
		im.mu.Unlock()
		t := time.NewTimer(im.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// round looks at every hour of the window that is over, newest first: each
// once, unless its state says it is final or not due yet.
func (im *importer) round(ctx context.Context) {
	now := im.a.opts.Now().UTC()
	newest := now.Truncate(time.Hour).Add(-time.Hour)
	oldest := now.Add(-im.window).Truncate(time.Hour)
	im.failures = 0
	if err := im.a.opts.Index.DropHours(im.a.opts.Name, oldest.Add(-historyFinal)); err != nil {
		im.a.log.Warn("history: dropping old hours", "err", err)
	}
	for h := newest; !h.Before(oldest); h = h.Add(-time.Hour) {
		if ctx.Err() != nil {
			return
		}
		st, err := im.a.opts.Index.Hour(im.a.opts.Name, h)
		switch {
		case errors.Is(err, index.ErrNotFound):
			st = index.HourState{Hour: h}
		case err != nil:
			im.a.log.Error("history: reading the hour's state", "hour", h, "err", err)
			continue
		}
		if st.Final || (!st.Next.IsZero() && im.a.opts.Now().Before(st.Next)) {
			continue
		}
		im.attempt(ctx, st)
	}
}

// attempt reads one hour and records what came of it.
func (im *importer) attempt(ctx context.Context, st index.HourState) {
	im.mu.Lock()
	im.current = st.Hour
	im.mu.Unlock()
	defer func() {
		im.mu.Lock()
		im.current = time.Time{}
		im.mu.Unlock()
	}()
	key := remote.HourKey(st.Hour, im.loc)
	file, err := im.src.FetchHistory(ctx, key, im.maxBytes)
	if ctx.Err() != nil {
		return // not an answer: the hour stays as it was
	}
	now := im.a.opts.Now()
	young := now.Before(st.Hour.Add(time.Hour + historyFinal))
	st.Tries++
	st.LastTry = now
	st.Error = ""
	st.Next = time.Time{}
	settled := func(state string) {
		st.State, st.Final = state, !young
		if young {
			st.Next = now.Add(max(im.interval, historyRelook))
		}
	}
	switch {
	case err == nil:
		settled(HourDone)
		msgs := im.messages(file)
		n, err := im.a.opts.Index.ImportHour(im.a.opts.Name, st, msgs)
		if err != nil {
			im.a.log.Error("history: import failed; the hour is read again later", "hour", key, "err", err)
			return
		}
		im.a.log.Info("history: hour imported", "hour", key, "records", file.Records,
			"attachments", len(msgs), "new", n, "skipped", file.Skipped)
		return
	case remote.IsNoHistory(err):
		settled(HourEmpty)
	case remote.IsHistoryNotStored(err) && (st.State == HourDone || st.State == HourEmpty):
		settled(st.State) // made before, gone now: what was imported stays
	case remote.IsHistoryNotStored(err) && young:
		st.State, st.Next = HourWaiting, now.Add(im.interval)
	case remote.IsHistoryNotStored(err):
		st.State, st.Final = HourUnavailable, true
		im.a.log.Info("history: hour not kept by the service (too old?): given up", "hour", key)
	case remote.IsInvalid(err) || IsRefused(err) && !remote.IsUnauthorized(err):
		st.State, st.Final, st.Error = HourUnavailable, true, err.Error()
		im.a.log.Warn("history: hour refused: given up", "hour", key, "err", err)
	default:
		if st.State != HourDone && st.State != HourEmpty {
			st.State = HourFailed
		}
		st.Error = err.Error()
		st.Next = now.Add(failedBackoff.Delay(st.Tries))
		im.failures++
		level := slog.LevelWarn // the first failure of a round; the rest say the same
		if im.failures > 1 {
			level = slog.LevelDebug
		}
		im.a.log.Log(ctx, level, "history: reading the hour failed; trying again later", "hour", key, "err", err, "next", st.Next)
	}
	if err := im.a.opts.Index.SetHour(im.a.opts.Name, st); err != nil {
		im.a.log.Error("history: recording the hour's state", "hour", key, "err", err)
	}
}

// messages turns an hour's attachments into index records, warning once
// per host of attachment urls that are not on the app's host.
func (im *importer) messages(file remote.HistoryFile) []index.Message {
	msgs := make([]index.Message, 0, len(file.Attachments))
	for _, at := range file.Attachments {
		if im.host != "" && !strings.EqualFold(at.Host, im.host) {
			im.mu.Lock()
			warn := !im.warned[at.Host]
			im.warned[at.Host] = true
			im.mu.Unlock()
			if warn {
				im.a.log.Warn("history: attachments on another host than the app's; they are read from the app's host by uuid",
					"host", at.Host, "app_host", im.host)
			}
		}
		msgs = append(msgs, index.Message{
			MsgFacts:    index.MsgFacts{MsgID: at.MsgID, From: at.From, To: at.To, ChatType: at.ChatType, Sent: at.Sent},
			UUID:        at.UUID,
			URL:         at.URL,
			Name:        at.Name,
			Size:        at.Size,
			ShareSecret: at.Secret,
			MIME:        mime.TypeByExtension(strings.ToLower(path.Ext(at.Name))),
			HasThumb:    at.Type == "img",
			ThumbUUID:   at.ThumbUUID,
			ThumbSecret: at.ThumbSecret,
			Expires:     at.Sent.Add(im.a.opts.Retention),
		})
	}
	return msgs
}

// HistoryProgress is how far the import of the message history has come,
// for `chatfs status`.
type HistoryProgress struct {
	Hours       int // hours of the window that are over
	Done        int // imported, or known to have no messages
	Waiting     int // not made yet by the service: asked again later
	Unavailable int // given up: no longer kept, or refused
	Failed      int // failed: asked again after a pause
	ToDo        int // not looked at yet
	Attachments int // attachments imported from the window's hours
	Current     time.Time
	NextAttempt time.Time // zero while a round runs
}

// String renders p on one line.
func (p HistoryProgress) String() string {
	s := fmt.Sprintf("%d of %d hours done, %d waiting, %d unavailable, %d failed, %d to do; %d attachments",
		p.Done, p.Hours, p.Waiting, p.Unavailable, p.Failed, p.ToDo, p.Attachments)
	switch {
	case !p.Current.IsZero():
		s += "; reading " + p.Current.UTC().Format("2006-01-02 15:00 UTC")
	case !p.NextAttempt.IsZero():
		s += "; next attempt " + p.NextAttempt.UTC().Format(time.RFC3339)
	}
	return s
}

// HistoryProgress reports the import's progress; false when the app
// imports no history.
func (a *App) HistoryProgress() (HistoryProgress, bool, error) {
	im := a.importer
	if im == nil {
		return HistoryProgress{}, false, nil
	}
	now := a.opts.Now().UTC()
	newest := now.Truncate(time.Hour).Add(-time.Hour)
	oldest := now.Add(-im.window).Truncate(time.Hour)
	var p HistoryProgress
	p.Hours = int(newest.Sub(oldest)/time.Hour) + 1
	seen := 0
	err := a.opts.Index.Hours(a.opts.Name, func(st index.HourState) error {
		if st.Hour.Before(oldest) || st.Hour.After(newest) {
			return nil
		}
		seen++
		p.Attachments += st.Imported
		switch st.State {
		case HourDone, HourEmpty:
			p.Done++
		case HourWaiting:
			p.Waiting++
		case HourUnavailable:
			p.Unavailable++
		default:
			p.Failed++
		}
		return nil
	})
	p.ToDo = max(p.Hours-seen, 0)
	im.mu.Lock()
	p.Current = im.current
	if p.Current.IsZero() {
		p.NextAttempt = im.next
	}
	im.mu.Unlock()
	return p, true, err
}
