package emulator

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkExport100k: storing 100,000 attachment messages in one hour
// with PostMessages, then making the hour's export (gzip of every record),
// once per iteration, uncached.
func BenchmarkExport100k(b *testing.B) {
	s, err := New(Options{Dir: b.TempDir(), Token: "t", Logger: slog.New(slog.DiscardHandler), HistoryRate: -1})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(s)
	defer hs.Close()
	start := time.Now().Add(-5 * time.Hour).Truncate(time.Hour)
	ms := make([]Message, 100_000)
	for i := range ms {
		ms[i] = Message{From: "alice", To: []string{"bob"}, Type: "img", Time: start.Add(time.Duration(i) * 30 * time.Millisecond),
			Body: json.RawMessage(fmt.Sprintf(`{"url":"http://127.0.0.1:1/o/a/chatfiles/%08d-0000-4000-8000-000000000000","filename":"photo%d.jpg","file_length":%d,"size":{"width":640,"height":480}}`, i, i, 1000+i))}
	}
	t0 := time.Now()
	if _, err := s.PostMessages("o/a", ms); err != nil {
		b.Fatal(err)
	}
	b.Logf("PostMessages of %d messages: %v", len(ms), time.Since(t0))
	b.ResetTimer()
	for range b.N {
		s.exports = exportCache{} // uncached
		gz, _, err := s.exportFile(appDirName("o/a"), start)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(gz)), "gz-bytes")
	}
}
