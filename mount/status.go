package mount

import (
	"strings"
	"time"

	"github.com/chatfs/chatfs/core"
	"github.com/chatfs/chatfs/index"
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
		ca.Sends, ca.SendsLanded = []control.Send{}, []control.SentLanded{}
		if sb := a.Sendbox(); sb != nil {
			ss := sb.Snapshot(r.SendsSince[a.Name()])
			if !r.Landed {
				ss.Landed = nil
			}
			ca.SendsLastSeq = ss.LastSeq
			for _, it := range ss.Items {
				kind, target, _ := strings.Cut(it.Path, "/")
				target, _, ok := strings.Cut(target, "/")
				if !ok || !core.IsSendDir(kind) || !core.ValidTarget(target) {
					kind, target = "", ""
				}
				ca.Sends = append(ca.Sends, control.Send{
					Path: it.Path, Kind: kind, Target: target, Size: it.Size, State: string(it.State),
					Attempts: it.Attempts, NextRetry: utc(it.NextRetry), Error: it.Error, Sent: it.Sent, Started: utc(it.Started),
				})
			}
			for _, l := range ss.Landed {
				ca.SendsLanded = append(ca.SendsLanded, control.SentLanded{Seq: l.Seq, Path: l.Path, UUID: l.UUID, MsgID: l.MsgID, Size: l.Size, Time: utc(l.At)})
			}
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
		al := metrics.AppLevels{Name: a.Name(), Waiting: w, Uploading: u, Failed: f, InFlight: a.Outbox().Busy()}
		if a.Sendbox() != nil {
			sl, err := m.SendCounts(a.Name())
			if err != nil {
				return l, err
			}
			al.Send = &sl
		}
		l.Apps = append(l.Apps, al)
	}
	s := m.Cache.Stats()
	l.Cache = metrics.CacheLevels{
		Hits: s.Hits, Misses: s.Fills, Joins: s.Joins, Evictions: s.Evictions,
		DownloadedBytes: s.Downloaded, Bytes: s.Bytes, Files: s.Files, Limit: m.cacheLimit,
	}
	return l, nil
}

// SendCounts counts the files queued in app's send/ by state: an entry
// already uploaded whose message is left to send is sending.
func (m *Mount) SendCounts(app string) (metrics.SendLevels, error) {
	var c metrics.SendLevels
	err := m.Index.ListUploads(index.SendQueue(app), func(u index.Upload) error {
		switch {
		case u.State == index.Failed:
			c.Failed++
		case u.State == index.Uploading && u.Uploaded != nil, u.State == index.Done:
			c.Sending++
		case u.State == index.Uploading:
			c.Uploading++
		case u.State == index.Waiting:
			c.Waiting++
		}
		return nil
	})
	return c, err
}

// Mountpoint is where the mount is.
func (m *Mount) Mountpoint() string { return m.mnt }
