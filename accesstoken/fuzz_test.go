package accesstoken

import (
	"encoding/base64"
	"testing"
	"time"
)

// FuzzParse checks that Parse never panics, and that whatever it accepts
// can be queried and verified without panicking.
func FuzzParse(f *testing.F) {
	user, err := BuildChatUserToken(vecAppID, vecCert, "alice", time.Unix(1_700_000_000, 0), 9, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		vecToken,
		user,
		"",
		"007",
		"006" + vecToken[3:],
		vecToken[:40],
		"007" + base64.StdEncoding.EncodeToString([]byte{0x78, 0x9c, 0xff}),
		deflate([]byte{0xff, 0xff}),
		deflate([]byte{32, 0}),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Parse(s)
		if err != nil {
			return
		}
		tok.HasChatApp()
		tok.ChatUser()
		tok.ExpiresAt()
		_ = tok.Verify(vecCert, time.Unix(0, 0))
		// Whatever Build accepts (it refuses duplicates Parse lets through)
		// must parse back to the same fields.
		if again, err := tok.Build(vecCert); err == nil {
			back, err := Parse(again)
			if err != nil {
				t.Fatalf("re-encoded token does not parse: %v", err)
			}
			if back.AppID != tok.AppID || back.IssueTs != tok.IssueTs || back.Expire != tok.Expire ||
				back.Salt != tok.Salt || len(back.Services) != len(tok.Services) {
				t.Fatalf("re-encoded token differs: %+v vs %+v", back, tok)
			}
		}
	})
}

// FuzzDecode fuzzes the payload decoder directly, below the zlib layer the
// fuzzer rarely gets through.
func FuzzDecode(f *testing.F) {
	for _, tok := range []string{vecToken, deflate([]byte{0xff, 0xff})} {
		payload, err := inflate(tok)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(payload)
	}
	rtc := &Token{AppID: vecAppID, Services: []Service{{Type: ServiceRTC, Extra: []byte{1, 0, 'c', 0, 0}},
		{Type: ServiceEducation, Extra: []byte{0, 0, 0, 0, 1, 0}}}}
	s, err := rtc.Build(vecCert)
	if err != nil {
		f.Fatal(err)
	}
	payload, _ := inflate(s)
	f.Add(payload)
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := decode(b)
		if err != nil {
			return
		}
		tok.HasChatApp()
		_ = tok.Verify(vecCert, time.Unix(0, 0))
		if _, err := tok.Build(vecCert); err != nil && validHex32(tok.AppID) && !hasDuplicates(tok) {
			t.Fatalf("decoded token does not re-encode: %v", err)
		}
	})
}

func hasDuplicates(t *Token) bool {
	types := map[uint16]bool{}
	for _, s := range t.Services {
		if types[s.Type] {
			return true
		}
		types[s.Type] = true
		ids := map[uint16]bool{}
		for _, p := range s.Privileges {
			if ids[p.ID] {
				return true
			}
			ids[p.ID] = true
		}
	}
	return false
}
