package mount

import (
	"time"

	"github.com/chatfs/chatfs/internal/control"
	"github.com/chatfs/chatfs/internal/metrics"
)

// ControlSocket is the name of the control socket in the state directory.
const ControlSocket = "control.sock"

// Status is the mount's state as `chatfs status` shows it, answering r.
func (m *Mount) Status(r control.Request) control.Status {
	st := control.Status{
		Version:    control.SchemaVersion,
		Mountpoint: m.mnt,
		Time:       time.Now().UTC(),
		Apps:       []control.App{},
	}
	for _, a := range m.Apps {
		snap := a.Outbox().Snapshot(r.Since[a.Name()])
		if !r.Landed {
			snap.Landed = nil
		}
		ca := control.App{
			Name:    a.Name(),
			Disk:    "ok",
			Uploads: make([]control.Upload, 0, len(snap.Items)),
			Ignored: make([]control.Ignored, 0, len(snap.Ignored)),
			Landed:  make([]control.Landed, 0, len(snap.Landed)),
			LastSeq: snap.LastSeq,
		}
		if a.Outbox().DiskFull() {
			ca.Disk = "full: writes to upload/ fail with ENOSPC until space is freed"
		}
		for _, it := range snap.Items {
			ca.Uploads = append(ca.Uploads, control.Upload{
				Path:      it.Path,
				Size:      it.Size,
				State:     string(it.State),
				Attempts:  it.Attempts,
				NextRetry: utc(it.NextRetry),
				Error:     it.Error,
				Sent:      it.Sent,
				Started:   utc(it.Started),
			})
		}
		for _, ig := range snap.Ignored {
			ca.Ignored = append(ca.Ignored, control.Ignored{Path: ig.Path, Why: ig.Why})
		}
		for _, l := range snap.Landed {
			ca.Landed = append(ca.Landed, control.Landed{Seq: l.Seq, Path: l.Path, UUID: l.UUID, Size: l.Size, Time: utc(l.At)})
		}
		if p, on, err := a.HistoryProgress(); err == nil && on {
			ca.History = &control.History{Hours: p.Hours, Done: p.Done, Waiting: p.Waiting, Unavailable: p.Unavailable,
				Failed: p.Failed, ToDo: p.ToDo, Attachments: p.Attachments, Line: p.String(),
				Current: utc(p.Current), NextAttempt: utc(p.NextAttempt)}
		}
		st.Apps = append(st.Apps, ca)
	}
	if m.Cache != nil {
		st.Cache.Bytes, st.Cache.Files = m.Cache.Usage()
		st.Cache.Limit = m.cacheLimit
	}
	return st
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// levels is what a metrics scrape reads.
func (m *Mount) levels() (metrics.Levels, error) {
	var l metrics.Levels
	for _, a := range m.Apps {
		w, u, f, err := m.Index.Counts(a.Name())
		if err != nil {
			return l, err
		}
		l.Apps = append(l.Apps, metrics.AppLevels{Name: a.Name(), Waiting: w, Uploading: u, Failed: f, InFlight: a.Outbox().Busy()})
	}
	s := m.Cache.Stats()
	l.Cache = metrics.CacheLevels{
		Hits: s.Hits, Misses: s.Fills, Joins: s.Joins, Evictions: s.Evictions,
		DownloadedBytes: s.Downloaded, Bytes: s.Bytes, Files: s.Files, Limit: m.cacheLimit,
	}
	return l, nil
}

// Mountpoint is where the mount is.
func (m *Mount) Mountpoint() string { return m.mnt }
