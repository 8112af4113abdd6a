package emulator

import (
	"bytes"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io/fs"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The demo conversation: a few generated images and PDFs exchanged
// between two users and in one group, stored as uploads and as sends in
// past hours whose history is already available, so that a newcomer's
// first mount has something to show.

// Names in the demo conversation.
const (
	DemoApp   = "app-id/demo"     // the app SeedDemo fills by default
	DemoUser1 = "alice"           // one of the two demo users
	DemoUser2 = "bob"             // the other
	DemoGroup = "190141728620545" // the demo group's id
)

// DemoOptions say where SeedDemo puts the demo conversation.
type DemoOptions struct {
	App string // app key ("app-id/ID" or "org/app"); DemoApp when empty
	// URL is the base URL clients reach this Server at, such as
	// "http://127.0.0.1:8080": the messages' attachment urls are built on it.
	URL string
	// IfEmpty seeds only an app that has neither files nor messages yet
	// (or whose seeding was interrupted): the embedded emulator's "fresh
	// state directory only".
	IfEmpty bool
}

// demoMessage is one message of the demo conversation.
type demoMessage struct {
	from, to, chatType string
	at                 time.Duration // after the first demo hour's start
	file               *demoFile     // nil: a text message
	text               string
}

// demoFile is an attachment of the demo conversation.
type demoFile struct {
	name       string
	restricted bool
	make       func() ([]byte, int, int, error) // bytes, and an image's size
}

// demoConversation lists the demo's messages, oldest first.
func demoConversation() []demoMessage {
	img := func(name string, w, h int, seed int, asJPEG bool) *demoFile {
		return &demoFile{name: name, make: func() ([]byte, int, int, error) {
			b, err := demoImage(w, h, seed, asJPEG)
			return b, w, h, err
		}}
	}
	pdf := func(name string, restricted bool, lines ...string) *demoFile {
		return &demoFile{name: name, restricted: restricted, make: func() ([]byte, int, int, error) {
			return demoPDF(lines), 0, 0, nil
		}}
	}
	return []demoMessage{
		{from: DemoUser1, to: DemoUser2, chatType: "chat", at: 10 * time.Minute, file: img("sunset.png", 640, 400, 1, false)},
		{from: DemoUser2, to: DemoUser1, chatType: "chat", at: 25 * time.Minute, text: "Lovely! Here is the kitten."},
		{from: DemoUser2, to: DemoUser1, chatType: "chat", at: 65 * time.Minute, file: img("kitten.jpg", 800, 600, 2, true)},
		{from: DemoUser1, to: DemoGroup, chatType: "groupchat", at: 100 * time.Minute, file: img("whiteboard.png", 1024, 768, 3, false)},
		{from: DemoUser1, to: DemoUser2, chatType: "chat", at: 135 * time.Minute,
			file: pdf("quarterly-report.pdf", true, "Quarterly report", "Revenue is up. Costs are down.", "(a restricted file: it needs its share-secret)")},
		{from: DemoUser2, to: DemoGroup, chatType: "groupchat", at: 140 * time.Minute,
			file: pdf("agenda.pdf", false, "Team meeting agenda", "1. Whiteboard review", "2. Quarterly report", "3. Kittens")},
		{from: DemoUser1, to: DemoGroup, chatType: "groupchat", at: 150 * time.Minute, text: "The agenda is above, see you at 3."},
	}
}

// SeedDemo stores the demo conversation in app o.App: its attachments as
// uploads and its messages in the three hours before the newest hour
// whose history is available now, so that their history exports already
// exist. It reports whether it seeded. It seeds each app once per data
// directory (Dir/demo records it); an interrupted seeding is finished by
// the next call, storing nothing twice. Calls are serialized.
func (s *Server) SeedDemo(o DemoOptions) (bool, error) {
	if o.App == "" {
		o.App = DemoApp
	}
	app, ok := normalizeAppKey(o.App)
	if !ok {
		return false, fmt.Errorf("emulator: demo app %q: want \"app-id/ID\" or \"org/app\"", o.App)
	}
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return false, fmt.Errorf("emulator: demo: URL %q: want http://HOST:PORT", o.URL)
	}
	s.demoMu.Lock()
	defer s.demoMu.Unlock()
	markDir := filepath.Join(s.st.dir, "demo")
	if err := os.MkdirAll(markDir, 0o700); err != nil {
		return false, fmt.Errorf("emulator: %w", err)
	}
	mark := filepath.Join(markDir, appDirName(app))
	state, err := os.ReadFile(mark)
	switch {
	case err == nil && strings.TrimSpace(string(state)) == "done":
		return false, nil
	case err == nil: // interrupted: finish it
	case !errors.Is(err, fs.ErrNotExist):
		return false, fmt.Errorf("emulator: %w", err)
	case o.IfEmpty && !s.appEmpty(app):
		return false, nil
	}
	if err := s.st.writeAtomic(mark, []byte("seeding\n")); err != nil {
		return false, fmt.Errorf("emulator: %w", err)
	}
	base := strings.TrimSuffix(u.String(), "/") + appBasePath(app)
	// The newest hour available now ends at or before now - delay.
	last := s.now().Add(-s.hist.delay).Truncate(time.Hour).Add(-time.Hour)
	first := last.Add(-2 * time.Hour)
	for i, dm := range demoConversation() {
		if err := s.seedMessage(app, base, first, i, dm); err != nil {
			return false, err
		}
	}
	if err := s.st.writeAtomic(mark, []byte("done\n")); err != nil {
		return false, fmt.Errorf("emulator: %w", err)
	}
	return true, nil
}

// seedMessage stores one demo message (and its attachment) unless a
// previous, interrupted seeding already did.
func (s *Server) seedMessage(app, base string, first time.Time, i int, dm demoMessage) error {
	at := first.Add(dm.at)
	id := strconv.FormatUint(uint64(max(at.UnixMilli()-idEpoch, 0))<<22|uint64(i), 10)
	if done, err := s.msgs.contains(app, at, id); err != nil || done {
		return err
	}
	m := Message{From: dm.from, To: []string{dm.to}, ChatType: dm.chatType, Time: at, MsgID: id, Ext: json.RawMessage("{}")}
	if dm.file == nil {
		m.Type = "txt"
		m.Body, _ = json.Marshal(map[string]string{"msg": dm.text})
	} else {
		body, typ, err := s.seedFile(app, base, at, dm.file)
		if err != nil {
			return err
		}
		m.Type, m.Body = typ, body
	}
	_, err := s.store(app, m)
	return err
}

// seedFile stores a demo attachment as an upload made at "at", under a
// uuid derived from its app and name (so a second seeding finds it), and
// returns its message body and type.
func (s *Server) seedFile(app, base string, at time.Time, f *demoFile) (json.RawMessage, string, error) {
	uuid := demoUUID(app, f.name)
	data, w, h, err := f.make()
	if err != nil {
		return nil, "", fmt.Errorf("emulator: demo %s: %w", f.name, err)
	}
	m, err := s.st.readMeta(app, uuid)
	if errors.Is(err, fs.ErrNotExist) {
		m = meta{
			Name: f.name, Size: int64(len(data)), Restricted: f.restricted,
			Secret: randomString(36), Created: at,
		}
		if err = s.storeBytes(app, uuid, data, &m); err != nil {
			return nil, "", err
		}
	} else if err != nil {
		return nil, "", err
	}
	body := map[string]any{
		"url":         base + "/chatfiles/" + uuid,
		"filename":    f.name,
		"file_length": m.Size,
	}
	if m.Restricted {
		body["secret"] = m.Secret
	}
	typ := "file"
	if w > 0 {
		typ = "img"
		body["size"] = map[string]int{"width": w, "height": h}
	}
	b, err := json.Marshal(body)
	return b, typ, err
}

// storeBytes stores data as the upload uuid of app with metadata m (its
// content type is sniffed here).
func (s *Server) storeBytes(app, uuid string, data []byte, m *meta) error {
	f, err := s.st.tempFile()
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		m.ContentType = http.DetectContentType(data)
		err = s.st.commit(app, uuid, f.Name(), *m)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return fmt.Errorf("emulator: demo: %w", err)
	}
	return nil
}

// appEmpty reports whether app has neither stored files nor messages.
func (s *Server) appEmpty(app string) bool {
	for _, d := range []string{s.st.appDir(app), s.msgs.appDir(appDirName(app))} {
		ents, err := os.ReadDir(d)
		if err == nil && len(ents) > 0 || err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false
		}
	}
	return true
}

// appBasePath is the base path of an app key: /app-id/ID or /org/app.
func appBasePath(app string) string {
	a, b, _ := strings.Cut(app, "/")
	return "/" + url.PathEscape(a) + "/" + url.PathEscape(b)
}

// demoUUID derives a stable uuid for a demo file.
func demoUUID(app, name string) string {
	b := sha1.Sum([]byte("chatfs-emulator-demo:" + app + ":" + name))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// demoImage draws a w×h picture, different for each seed: a gradient sky,
// a sun, and stripes, encoded as PNG or JPEG.
func demoImage(w, h, seed int, asJPEG bool) ([]byte, error) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	cx, cy, r := float64(w)*(0.3+0.15*float64(seed)), float64(h)*0.4, float64(min(w, h))/6
	for y := 0; y < h; y++ {
		t := float64(y) / float64(h)
		sky := color.RGBA{
			R: uint8(40 + 200*t*float64(seed%2+1)/2),
			G: uint8(60 + 100*(1-t)),
			B: uint8(200 - 150*t + 20*float64(seed)),
			A: 255,
		}
		// The sun's span on this row, if any.
		x0, x1 := 1, 0
		if dy := float64(y) - cy; dy*dy < r*r {
			half := math.Sqrt(r*r - dy*dy)
			x0, x1 = int(cx-half), int(cx+half)
		}
		row := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := 0; x < w; x++ {
			c := sky
			if x >= x0 && x <= x1 {
				c = color.RGBA{255, uint8(200 - 30*seed), 40, 255}
			}
			if y > h*3/4 && (x/(8*seed+8)+y/12)%2 == 0 {
				c = color.RGBA{uint8(20 * seed), 90, 40, 255}
			}
			row[4*x], row[4*x+1], row[4*x+2], row[4*x+3] = c.R, c.G, c.B, c.A
		}
	}
	var buf bytes.Buffer
	var err error
	if asJPEG {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85})
	} else {
		err = png.Encode(&buf, img)
	}
	return buf.Bytes(), err
}

// demoPDF makes a one-page PDF with lines of text, with a correct
// cross-reference table.
func demoPDF(lines []string) []byte {
	esc := strings.NewReplacer(`\`, `\\`, "(", `\(`, ")", `\)`)
	var content strings.Builder
	content.WriteString("BT /F1 24 Tf 72 720 Td")
	for i, l := range lines {
		if i == 1 {
			content.WriteString(" /F1 14 Tf")
		}
		fmt.Fprintf(&content, " (%s) Tj 0 -28 Td", esc.Replace(l))
	}
	content.WriteString(" ET")
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", content.Len(), content.String()),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}
