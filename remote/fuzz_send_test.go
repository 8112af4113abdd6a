package remote

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzParseSendAnswer: whatever a server answers a send with, the parse
// never panics, and either gives every target an id that can go into an
// xattr or a file name as it is, or is a malformed answer.
func FuzzParseSendAnswer(f *testing.F) {
	f.Add([]byte(`{"action":"post","data":{"bob":"1029457500870543736"},"timestamp":1554371126338}`), "bob")
	f.Add([]byte(`{"data":{"bob":1}}`), "bob")
	f.Add([]byte(`{"data":{"bob":"a\nb"}}`), "bob")
	f.Add([]byte(`{"data":null}`), "carol")
	f.Add([]byte(`[]`), "x")
	f.Fuzz(func(t *testing.T, data []byte, target string) {
		if !ValidTarget(target) {
			return // refused before any send (Message.check)
		}
		res, err := parseSendAnswer(data, []string{target})
		if err != nil {
			if !errors.Is(err, ErrMalformedAnswer) {
				t.Fatalf("error %v is not a malformed answer", err)
			}
			if len(err.Error()) > maxMessage {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		id, ok := res.IDs[target]
		if !ok || !validMessageID(id) {
			t.Fatalf("target %q: id %q", target, id)
		}
		if b, _ := json.Marshal(id); string(b) != `"`+id+`"` {
			t.Fatalf("id %q needs escaping", id)
		}
	})
}
