package core_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/index"
	"github.com/chatfs/chatfs/remote"
)

// fakeHistory answers the history export by hour key; an hour without an
// answer has no messages (404 storage_object_not_found).
type fakeHistory struct {
	mu     sync.Mutex
	answer map[string]func(n int) (remote.HistoryFile, error) // n counts the hour's calls from 1
	calls  []string
	count  map[string]int
	block  chan struct{} // when set, a fetch waits on it or its context
}

func newFakeHistory() *fakeHistory {
	return &fakeHistory{answer: map[string]func(int) (remote.HistoryFile, error){}, count: map[string]int{}}
}

func (f *fakeHistory) FetchHistory(ctx context.Context, hour string, maxBytes int64) (remote.HistoryFile, error) {
	f.mu.Lock()
	f.calls = append(f.calls, hour)
	f.count[hour]++
	n, ans, block := f.count[hour], f.answer[hour], f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return remote.HistoryFile{}, ctx.Err()
		}
	}
	if ans == nil {
		return remote.HistoryFile{}, histErr(404, "storage_object_not_found", "storage object not found")
	}
	return ans(n)
}

func (f *fakeHistory) set(hour string, ans func(n int) (remote.HistoryFile, error)) {
	f.mu.Lock()
	f.answer[hour] = ans
	f.mu.Unlock()
}

func (f *fakeHistory) callList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeHistory) calledFor(hour string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count[hour]
}

func histErr(status int, code, desc string) error {
	return &remote.Error{Op: "history", Status: status, Code: code, Description: desc}
}

var errNotStored = histErr(400, "illegal_argument", "illegal arguments: appkey: org#app, time: x, maybe chat message history is expired or unstored")

func always(f remote.HistoryFile, err error) func(int) (remote.HistoryFile, error) {
	return func(int) (remote.HistoryFile, error) { return f, err }
}

func attachments(sent time.Time, uuids ...string) remote.HistoryFile {
	var f remote.HistoryFile
	for i, u := range uuids {
		f.Attachments = append(f.Attachments, remote.Attachment{MsgID: "m" + u[:8], Sent: sent.Add(time.Duration(i) * time.Minute),
			From: "alice", To: "bob", ChatType: remote.ChatUsers, Type: "img", UUID: u, URL: "https://h/chatfiles/" + u,
			Host: "h", Name: "photo.jpg", Size: 10})
		f.Records++
	}
	return f
}

func historyEnv(t *testing.T, fh *fakeHistory, window time.Duration, edit func(*core.Options)) *env {
	return newEnv(t, newFakeRemote(), func(o *core.Options) {
		o.History = fh
		o.HistoryWindow = window
		o.HistoryHost = "h"
		if edit != nil {
			edit(o)
		}
	})
}

func hourState(t *testing.T, e *env, h time.Time) index.HourState {
	st, err := e.idx.Hour(testApp, h)
	require.NoError(t, err)
	return st
}

// The synctest clock starts at 2000-01-01 00:00 UTC: the hours over are
// 1999-12-31 23:00, 22:00, ...
var (
	h23 = time.Date(1999, 12, 31, 23, 0, 0, 0, time.UTC)
	h22 = h23.Add(-time.Hour)
	h21 = h23.Add(-2 * time.Hour)
	h20 = h23.Add(-3 * time.Hour)
	h19 = h23.Add(-4 * time.Hour)
)

func key(h time.Time) string { return remote.HourKey(h, time.UTC) }

func TestHistoryScheduleNewestFirstEachHourOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fh := newFakeHistory()
		fh.set(key(h23), always(remote.HistoryFile{}, errNotStored))
		fh.set(key(h22), always(attachments(h22, "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"), nil))
		fh.set(key(h20), always(remote.HistoryFile{}, histErr(400, "illegal_argument", "illegal arguments: appkey: org#app, time: 19991231")))
		fh.set(key(h19), always(remote.HistoryFile{}, &remote.Error{Op: "history", Status: 503}))
		e := historyEnv(t, fh, 5*time.Hour, nil)
		e.start()
		e.waitFor(func() bool { return len(fh.callList()) == 5 }, "the first round")
		assert.Equal(t, []string{key(h23), key(h22), key(h21), key(h20), key(h19)}, fh.callList(), "newest first, each once")

		assert.Equal(t, core.HourWaiting, hourState(t, e, h23).State)
		st := hourState(t, e, h22)
		assert.Equal(t, []any{core.HourDone, false, 2}, []any{st.State, st.Final, st.Imported}, "young: not final")
		assert.Equal(t, core.HourEmpty, hourState(t, e, h21).State)
		st = hourState(t, e, h20)
		assert.Equal(t, []any{core.HourUnavailable, true}, []any{st.State, st.Final}, "a bad format is not asked again")
		assert.Equal(t, core.HourFailed, hourState(t, e, h19).State)

		var names []string
		require.NoError(t, e.idx.ListChat(testApp, index.FolderUsers, "bob", func(ce index.ChatEntry, f index.File) error {
			names = append(names, ce.Name)
			assert.Equal(t, int64(10), f.Size)
			assert.Equal(t, "image/jpeg", f.MIME)
			assert.Equal(t, "alice", f.Msg.From)
			return nil
		}))
		assert.Equal(t, []string{"photo (2).jpg", "photo.jpg"}, names)

		p, on, err := e.app.HistoryProgress()
		require.NoError(t, err)
		require.True(t, on)
		assert.Equal(t, core.HistoryProgress{Hours: 5, Done: 2, Waiting: 1, Unavailable: 1, Failed: 1, Attachments: 2,
			NextAttempt: time.Date(2000, 1, 1, 0, 10, 0, 0, time.UTC)}, p)

		// The second round, an interval later: the waiting hour and the
		// failed one are asked again; done, empty and refused hours not.
		time.Sleep(10 * time.Minute)
		e.waitFor(func() bool { return len(fh.callList()) == 7 }, "the second round")
		assert.Equal(t, []string{key(h23), key(h19)}, fh.callList()[5:])
		synctest.Wait()
		assert.Len(t, fh.callList(), 7)

		// An hour later the young hours done or empty are looked at again,
		// and import nothing twice.
		e.clock.advance(time.Hour - 10*time.Minute)
		time.Sleep(10 * time.Minute)
		e.waitFor(func() bool { return fh.calledFor(key(h22)) == 2 && fh.calledFor(key(h21)) == 2 }, "young hours looked at again")
		assert.Equal(t, 2, hourState(t, e, h22).Imported)
		assert.Equal(t, 1, fh.calledFor(key(h20)))
		e.app.Close(0)
	})
}

func TestHistoryNotYetIsAskedFor24HoursThenGivenUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fh := newFakeHistory()
		fh.set(key(h23), always(remote.HistoryFile{}, errNotStored))
		// A round every fake minute, while the app's clock moves an hour
		// a round: a day of the schedule in half an hour of the bubble's.
		e := historyEnv(t, fh, 72*time.Hour, func(o *core.Options) { o.HistoryInterval = time.Minute })
		e.start()
		e.waitFor(func() bool { return fh.calledFor(key(h23)) == 1 }, "the first try")
		for range 30 {
			e.clock.advance(time.Hour)
			time.Sleep(time.Minute)
			synctest.Wait()
		}
		st := hourState(t, e, h23)
		assert.Equal(t, []any{core.HourUnavailable, true}, []any{st.State, st.Final})
		n := fh.calledFor(key(h23))
		assert.InDelta(t, 25, n, 1, "once a round for the 24 h after the hour")
		for range 5 {
			e.clock.advance(time.Hour)
			time.Sleep(time.Minute)
			synctest.Wait()
		}
		assert.Equal(t, n, fh.calledFor(key(h23)), "given up for good")
		e.app.Close(0)
	})
}

func TestHistoryTooOldIsGivenUpAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fh := newFakeHistory()
		old := h23.Add(-30 * time.Hour)
		fh.set(key(old), always(remote.HistoryFile{}, errNotStored))
		e := historyEnv(t, fh, 72*time.Hour, nil)
		e.start()
		e.waitFor(func() bool { return fh.calledFor(key(old)) == 1 }, "the old hour")
		synctest.Wait()
		st := hourState(t, e, old)
		assert.Equal(t, []any{core.HourUnavailable, true}, []any{st.State, st.Final})
		time.Sleep(20 * time.Minute)
		synctest.Wait()
		assert.Equal(t, 1, fh.calledFor(key(old)))
		e.app.Close(0)
	})
}

func TestHistoryChinaHours(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fh := newFakeHistory()
		e := historyEnv(t, fh, 2*time.Hour, func(o *core.Options) { o.HistoryLocation = time.FixedZone("UTC+8", 8*3600) })
		e.start()
		e.waitFor(func() bool { return len(fh.callList()) == 2 }, "a round")
		assert.Equal(t, []string{"2000010107", "2000010106"}, fh.callList(), "23:00 UTC is 07:00 in UTC+8")
		e.app.Close(0)
	})
}

func TestHistoryCloseStopsAnHourBeingRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fh := newFakeHistory()
		fh.block = make(chan struct{})
		e := historyEnv(t, fh, 3*time.Hour, nil)
		e.start()
		e.waitFor(func() bool { return len(fh.callList()) == 1 }, "a fetch in flight")
		p, _, err := e.app.HistoryProgress()
		require.NoError(t, err)
		assert.Equal(t, h23, p.Current)
		assert.Contains(t, p.String(), "reading 1999-12-31 23:00 UTC")
		e.app.Close(0) // returns: the importer was cancelled and waited for
		_, err = e.idx.Hour(testApp, h23)
		assert.True(t, errors.Is(err, index.ErrNotFound), "a cancelled read records nothing")
	})
}

func TestHistoryOffByDefault(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t, newFakeRemote(), nil)
		e.start()
		_, on, err := e.app.HistoryProgress()
		require.NoError(t, err)
		assert.False(t, on)
		e.app.Close(0)
	})
}
