package remote

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Attachment is one file attachment of a message of the history export.
// Every field has been checked: UUID is a valid uuid, the conversation ids
// are valid ValidChatID names, ChatType is one of the three kinds.
type Attachment struct {
	MsgID    string
	Sent     time.Time
	From     string
	To       string // a user, group id or room id, as ChatType says
	ChatType string // ChatUsers, ChatGroups or ChatRooms
	Type     string // img, file, video, audio; inferred for a body without type
	UUID     string
	URL      string // the attachment's url, without its query
	Host     string // the url's host
	Secret   string // share-secret, from `secret` or the url's ?share-secret=
	Name     string // filename; the uuid when the message gives none
	Size     int64  // file_length; -1 when not given
	// A video's thumbnail, a separately uploaded image.
	ThumbUUID   string
	ThumbSecret string
}

// Chat types, as the export's chat_type names them.
const (
	ChatUsers  = "chat"
	ChatGroups = "groupchat"
	ChatRooms  = "chatroom"
)

// ErrHistoryTooLarge is returned (wrapped) when an hour's export exceeds
// the bytes allowed (a gzip bomb) or holds a line longer than
// MaxHistoryLine. It is permanent.
var ErrHistoryTooLarge = errors.New("remote: history export too large")

// HistoryFile is what ParseHistory read of one export file.
type HistoryFile struct {
	Attachments []Attachment
	Records     int   // records read, with or without attachments
	Skipped     int   // records, or bodies, whose attachment was not usable
	bytes       int64 // uncompressed bytes read
}

// ParseHistory reads one gzip export file from r: one JSON record per line,
// or a top-level JSON array of records. At most maxBytes uncompressed bytes
// are read (<= 0: DefaultHistoryMaxBytes). A file that is not gzip, is cut
// short, is too large, or holds a line that is not JSON is an error (the
// whole file: nothing of it is to be used); a record that is JSON but whose
// attachment is unusable (no msg_id, no uuid in its url, a bad
// conversation id) is skipped and counted. Bodies that are not attachments
// (txt, loc, cmd, custom, ...) are ignored.
func ParseHistory(r io.Reader, maxBytes int64) (out HistoryFile, err error) {
	if maxBytes <= 0 {
		maxBytes = DefaultHistoryMaxBytes
	}
	zr, err := gzip.NewReader(r)
	if err != nil {
		return out, fmt.Errorf("remote: history file: not gzip: %w", err)
	}
	defer zr.Close()
	lr := &limitedReader{r: zr, left: maxBytes}
	defer func() { out.bytes = maxBytes - lr.left }()
	br := bufio.NewReaderSize(lr, 64<<10)
	first, err := peekNonSpace(br)
	if err == io.EOF {
		return out, nil
	}
	if err != nil {
		return out, historyReadErr(err)
	}
	add := func(raw []byte) error {
		out.Records++
		atts, skipped, err := parseRecord(raw)
		if err != nil {
			return err
		}
		out.Skipped += skipped
		out.Attachments = append(out.Attachments, atts...)
		return nil
	}
	if first == '[' {
		dec := json.NewDecoder(br)
		if _, err := dec.Token(); err != nil {
			return out, historyReadErr(err)
		}
		for dec.More() {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return out, historyReadErr(err)
			}
			if len(raw) > MaxHistoryLine {
				return out, fmt.Errorf("%w: a record longer than %d bytes", ErrHistoryTooLarge, MaxHistoryLine)
			}
			if err := add(raw); err != nil {
				return out, err
			}
		}
		if _, err := dec.Token(); err != nil {
			return out, historyReadErr(err)
		}
		return out, nil
	}
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err != nil && err != io.EOF {
			return out, historyReadErr(err) // the line is incomplete
		}
		if len(bytes.TrimSpace(line)) > 0 {
			if perr := add(line); perr != nil {
				return out, fmt.Errorf("%w (line %d)", perr, n)
			}
		}
		if err == io.EOF {
			return out, nil
		}
	}
}

func historyReadErr(err error) error {
	if errors.Is(err, ErrHistoryTooLarge) {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("remote: history file: cut short: %w", io.ErrUnexpectedEOF)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("remote: history file: %w: %v", ErrMalformedAnswer, err)
	}
	return fmt.Errorf("remote: history file: %w", err)
}

// readLine reads one line, without its newline, of at most MaxHistoryLine
// bytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > MaxHistoryLine+1 {
			return nil, fmt.Errorf("%w: a line longer than %d bytes", ErrHistoryTooLarge, MaxHistoryLine)
		}
		line = append(line, frag...)
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimSuffix(line, []byte("\n")), err
	}
}

func peekNonSpace(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if b != ' ' && b != '\t' && b != '\r' && b != '\n' {
			return b, br.UnreadByte()
		}
	}
}

// limitedReader fails with ErrHistoryTooLarge past left bytes.
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		// One byte more tells a file of exactly the limit from a longer one.
		var one [1]byte
		if n, _ := l.r.Read(one[:]); n > 0 {
			return 0, fmt.Errorf("%w: more than the bytes allowed for an hour", ErrHistoryTooLarge)
		}
		return l.r.Read(p[:0])
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}

// wireRecord is one record of the export; fields the documents disagree
// on the type of are flexible.
type wireRecord struct {
	MsgID     flexString `json:"msg_id"`
	Timestamp flexInt    `json:"timestamp"`
	From      flexString `json:"from"`
	To        flexString `json:"to"`
	ChatType  string     `json:"chat_type"`
	Payload   struct {
		Bodies []json.RawMessage `json:"bodies"`
		From   flexString        `json:"from"`
		To     flexString        `json:"to"`
	} `json:"payload"`
}

type wireBody struct {
	Type        string          `json:"type"`
	URL         string          `json:"url"`
	Filename    string          `json:"filename"`
	Secret      string          `json:"secret"`
	FileLength  *flexInt        `json:"file_length"`
	Size        json.RawMessage `json:"size"`
	Length      *flexInt        `json:"length"` // also matches "Length"
	Thumb       string          `json:"thumb"`
	ThumbSecret flexString      `json:"thumb_secret"`
}

// parseRecord reads one record. A record that is not a JSON object is an
// error; one that is, but is unusable, gives no attachment and counts as
// skipped when it had attachment bodies.
func parseRecord(raw []byte) ([]Attachment, int, error) {
	var rec wireRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, 1, nil // JSON, but not shaped like a record
		}
		return nil, 0, fmt.Errorf("remote: history file: %w: a record that is not JSON", ErrMalformedAnswer)
	}
	var bodies []wireBody
	for _, rb := range rec.Payload.Bodies {
		var b wireBody
		if json.Unmarshal(rb, &b) != nil {
			continue
		}
		b.Type = strings.ToLower(b.Type)
		if b.Type == "" && b.URL != "" { // a combined message's body
			b.Type = inferType(b)
		}
		switch b.Type {
		case "img", "file", "video", "audio":
			bodies = append(bodies, b)
		}
	}
	if len(bodies) == 0 {
		return nil, 0, nil
	}
	from, to := string(rec.Payload.From), string(rec.Payload.To)
	if from == "" {
		from = string(rec.From)
	}
	if to == "" {
		to = string(rec.To)
	}
	chatType := strings.ToLower(rec.ChatType)
	msgID := string(rec.MsgID)
	if !validMsgID(msgID) || rec.Timestamp <= 0 || !ValidChatID(from) || !ValidChatID(to) ||
		(chatType != ChatUsers && chatType != ChatGroups && chatType != ChatRooms) {
		return nil, len(bodies), nil
	}
	sent := time.UnixMilli(int64(rec.Timestamp)).UTC()
	var out []Attachment
	skipped := 0
	seen := map[string]bool{}
	for _, b := range bodies {
		a, ok := attachment(b)
		if !ok {
			skipped++
			continue
		}
		if seen[a.UUID] {
			continue
		}
		seen[a.UUID] = true
		a.MsgID, a.Sent, a.From, a.To, a.ChatType = msgID, sent, from, to, chatType
		out = append(out, a)
	}
	return out, skipped, nil
}

func inferType(b wireBody) string {
	switch {
	case b.Thumb != "":
		return "video"
	case b.Size != nil:
		return "img"
	case b.Length != nil:
		return "audio"
	}
	return "file"
}

// attachment checks one body's file facts.
func attachment(b wireBody) (Attachment, bool) {
	uuid, host, clean, qsecret, ok := attachmentURL(b.URL)
	if !ok {
		return Attachment{}, false
	}
	a := Attachment{Type: b.Type, UUID: uuid, URL: clean, Host: host, Secret: b.Secret, Name: b.Filename, Size: -1}
	if a.Secret == "" {
		a.Secret = qsecret
	}
	if !validSecret(a.Secret) {
		return Attachment{}, false
	}
	if a.Name == "" || len(a.Name) > 1024 || strings.IndexByte(a.Name, 0) >= 0 {
		a.Name = uuid
	}
	if b.FileLength != nil && *b.FileLength >= 0 {
		a.Size = int64(*b.FileLength)
	}
	if b.Type == "video" && b.Thumb != "" {
		if tu, _, _, ts, ok := attachmentURL(b.Thumb); ok {
			a.ThumbUUID, a.ThumbSecret = tu, string(b.ThumbSecret)
			if a.ThumbSecret == "" {
				a.ThumbSecret = ts
			}
			if !validSecret(a.ThumbSecret) {
				a.ThumbUUID, a.ThumbSecret = "", ""
			}
		}
	}
	return a, true
}

// attachmentURL takes the uuid from the last path segment of an
// attachment's url, whatever its host or path shape, and the
// share-secret from its query.
func attachmentURL(s string) (uuid, host, clean, secret string, ok bool) {
	p, err := url.Parse(s)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return "", "", "", "", false
	}
	path := strings.TrimSuffix(p.Path, "/")
	uuid = path[strings.LastIndexByte(path, '/')+1:]
	if !ValidUUID(uuid) {
		return "", "", "", "", false
	}
	return uuid, p.Host, redactURL(p), p.Query().Get(hdrShareSecret), true
}

// ValidChatID reports whether s may name a conversation's folder: a user
// name, group id or room id of letters, digits, '_', '-' and '.', at most
// 64 bytes, and not "." or "..".
func ValidChatID(s string) bool {
	if s == "" || len(s) > 64 || s == "." || s == ".." {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validMsgID accepts what a message id can be keyed and shown by: 1 to 128
// printable ASCII bytes without '/'.
func validMsgID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == '/' {
			return false
		}
	}
	return true
}

// validSecret accepts a share-secret that can travel in a header: printable
// ASCII without spaces, at most 512 bytes (or none).
func validSecret(s string) bool {
	if len(s) > 512 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// flexString reads a JSON string or number.
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if json.Unmarshal(b, &n) == nil {
		*f = flexString(n.String())
		return nil
	}
	*f = "" // anything else: absent
	return nil
}

// flexInt reads a JSON integer, or a string holding one; anything else is
// -1.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	var s flexString
	_ = s.UnmarshalJSON(b)
	n, err := strconv.ParseInt(string(s), 10, 64)
	if err != nil {
		if fl, ferr := strconv.ParseFloat(string(s), 64); ferr == nil && fl >= 0 && fl < 1<<53 {
			n, err = int64(fl), nil
		}
	}
	if err != nil {
		n = -1
	}
	*f = flexInt(n)
	return nil
}
