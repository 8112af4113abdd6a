package remote

// Fuzz targets for the parsers that read what a server or a chat message
// hands us. They live in package remote to reach the unexported parsers.
// Run them with ./fuzz.sh, or one with
//
//	go test -run '^$' -fuzz '^FuzzParseUploadAnswer$' -fuzztime 30s ./remote

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

const fuzzUUID = "5fd74830-5796-11e9-9ed2-2b3b4c4a1e5f"

// maxMessage bounds error messages built from hostile input.
const maxMessage = 2048

// printable reports whether s is valid UTF-8 without control characters,
// so that it is safe in a log line or an xattr.
func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) }) < 0
}

func FuzzParseUploadAnswer(f *testing.F) {
	for _, s := range []string{
		`{"action":"post","path":"/chatfiles","uri":"https://a1.easemob.com/org/app/chatfiles","entities":[{"uuid":"` + fuzzUUID + `","type":"chatfile","share-secret":"X9dX"}],"timestamp":1554371126338,"duration":0}`,
		`{"entities":[{"uuid":"` + fuzzUUID + `"}]}`,
		`{"entities":[{"uuid":"../../etc/passwd"}]}`,
		`{"entities":[{"uuid":"5FD74830-5796-11E9-9ED2-2B3B4C4A1E5F"}]}`,
		`{"entities":[]}`,
		`{"entities":null}`,
		`{"entities":{"uuid":"` + fuzzUUID + `"}}`,
		`{"entities":[{"uuid":5}]}`,
		`{"timestamp":-1,"entities":[{"uuid":"` + fuzzUUID + `"}]}`,
		`{"timestamp":9223372036854775807,"entities":[{"uuid":"` + fuzzUUID + `"}]}`,
		`null`, `[]`, `"x"`, ``, `{`, "<html>502 Bad Gateway</html>",
		"{\"entities\":[{\"uuid\":\"" + fuzzUUID + "\"}]}\x00trailing",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := parseUploadAnswer(data)
		if err != nil {
			if !errors.Is(err, ErrMalformedAnswer) {
				t.Fatalf("error %v is not ErrMalformedAnswer", err)
			}
			if len(err.Error()) > maxMessage || !printable(err.Error()) {
				t.Fatalf("error message unbounded or unprintable: %q", err.Error())
			}
			return
		}
		if !ValidUUID(res.UUID) {
			t.Fatalf("accepted uuid %q", res.UUID)
		}
		if !strings.HasSuffix(res.URL(), "/"+res.UUID) {
			t.Fatalf("URL %q does not end with the uuid", res.URL())
		}
		if res.Timestamp.IsZero() {
			t.Fatal("no timestamp")
		}
	})
}

// errorResponse builds a response as the transport would hand it over.
func errorResponse(status int, body []byte, retryAfter string) *http.Response {
	h := http.Header{}
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(bytes.NewReader(body))}
}

func FuzzReadError(f *testing.F) {
	for _, s := range []struct {
		status      int
		body, after string
	}{
		{404, `{"error":"file_expired","exception":"x","timestamp":1,"duration":0,"error_description":"file 5fd7 is expired"}`, ""},
		{429, `{"error":"reach_limit","error_description":"This request has reached API limit."}`, "2"},
		{429, `{"error":"resource_limited"}`, "9223372036854775807"},
		{503, `{"error":{"nested":["a",1]}}`, "Wed, 21 Oct 2015 07:28:00 GMT"},
		{502, "<html>\n<head><title>502 Bad Gateway</title></head>\n</html>", "-5"},
		{401, `{"error":"unauthorized","error_description":"` + strings.Repeat("long ", 100) + `"}`, ""},
		{400, "{\"error\":\"a\\u0000b\\nc\",\"error_description\":\"\\u001b[31mred\"}", ""},
		{500, "\xff\xfe\x00binary", "18446744073"},
		{413, ``, ""},
	} {
		f.Add(s.status, []byte(s.body), s.after)
	}
	f.Fuzz(func(t *testing.T, status int, body []byte, after string) {
		status = 300 + int(uint(status)%300)
		e := readError("download "+fuzzUUID, errorResponse(status, body, after))
		if e.Status != status {
			t.Fatalf("status %d, want %d", e.Status, status)
		}
		msg := e.Error()
		if len(msg) > maxMessage || !printable(msg) {
			t.Fatalf("message unbounded or unprintable (%d bytes): %q", len(msg), msg)
		}
		for _, s := range []string{e.Code, e.Description, e.Exception, e.Body} {
			if !printable(s) || len(s) > maxErrorBodyExcerpt+len("…") {
				t.Fatalf("field unbounded or unprintable: %q", s)
			}
		}
		if e.RetryAfter < 0 || e.RetryAfter > maxRetryAfter {
			t.Fatalf("RetryAfter %v out of [0, %v]", e.RetryAfter, maxRetryAfter)
		}
		// The predicates agree with each other.
		if IsNotExist(e) && IsAppNotFound(e) {
			t.Fatal("both IsNotExist and IsAppNotFound")
		}
		if IsQuotaExceeded(e) && IsRetryable(e) {
			t.Fatal("IsQuotaExceeded but IsRetryable")
		}
		if IsExpired(e) && !IsNotExist(e) {
			t.Fatal("IsExpired but not IsNotExist")
		}
		rateLimited := status == 429 && !IsQuotaExceeded(e)
		if IsRetryable(e) != (status == 408 || status >= 500 || rateLimited) {
			t.Fatalf("IsRetryable(%v) = %v", e, IsRetryable(e))
		}
	})
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "2", " 30 ", "-1", "59", "60", "61", "3600",
		"9223372036854775807", "18446744073", "99999999999999999999", "1e3", "0x10",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"} {
		f.Add(s)
	}
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d := parseRetryAfter(v, now)
		if d < 0 || d > maxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %v, out of [0, %v]", v, d, maxRetryAfter)
		}
		// A number of seconds is honoured up to the cap, whatever its size.
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil {
			want := maxRetryAfter
			if n < uint64(maxRetryAfter/time.Second) {
				want = time.Duration(n) * time.Second
			}
			if d != want {
				t.Fatalf("parseRetryAfter(%q) = %v, want %v", v, d, want)
			}
		}
	})
}

func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-9/10", "bytes 5-9/*", "bytes 9-5/10", "bytes 0-9/5",
		"bytes -1-9/10", "bytes 0-9223372036854775807/*", "items 0-1/2", "bytes 0-9/10/11", " bytes 1-1/2 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		start, end, total, err := parseContentRange(v)
		if err != nil {
			return
		}
		if start < 0 || end < start || (total != -1 && total <= end) {
			t.Fatalf("parseContentRange(%q) = %d, %d, %d", v, start, end, total)
		}
		tot := "*"
		if total >= 0 {
			tot = strconv.FormatInt(total, 10)
		}
		s2, e2, t2, err := parseContentRange(fmt.Sprintf("bytes %d-%d/%s", start, end, tot))
		if err != nil || s2 != start || e2 != end || t2 != total {
			t.Fatalf("round trip of %q: %d %d %d %v", v, s2, e2, t2, err)
		}
	})
}

var uuidOracle = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func FuzzValidUUID(f *testing.F) {
	for _, s := range []string{fuzzUUID, strings.ToUpper(fuzzUUID), "", "../../../../../../../../../../../../x",
		"5fd74830-5796-11e9-9ed2-2b3b4c4a1e5", "5fd74830-5796-11e9-9ed2-2b3b4c4a1e5f\n",
		"5fd74830_5796-11e9-9ed2-2b3b4c4a1e5f", "5fd74830-5796-11e9-9ed2-2b3b4c4a1e5g", "5fd74830-5796-11e9-9ed2-2b3b4c4a1é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidUUID(s), uuidOracle.MatchString(s); got != want {
			t.Fatalf("ValidUUID(%q) = %v, the regexp says %v", s, got, want)
		}
	})
}

func FuzzParseMessageURL(f *testing.F) {
	for _, s := range []string{
		"https://a1.easemob.com/org/app/chatfiles/" + fuzzUUID,
		"https://a1.easemob.com/org/app/chatfiles/" + fuzzUUID + "?share-secret=X9dX%2B%2F%3D",
		"https://a1.easemob.com/app-id/A/chatfiles/" + fuzzUUID + "/?share-secret=a&share-secret=b#frag",
		"https://h/chatfiles/../chatfiles/" + fuzzUUID,
		"https://h/chatfiles/%2e%2e%2f" + fuzzUUID,
		"https://h/chatfiles/" + strings.ToUpper(fuzzUUID),
		"https://user:pass@h/chatfiles/x?share-secret=s",
		"https://h/chatfiles/\x7f?share-secret=s",
		"mailto:x?share-secret=s",
		"%zz", "", "/chatfiles/" + fuzzUUID,
	} {
		f.Add(s)
	}
	const marker = "SECRETMARKERq7Zk"
	f.Fuzz(func(t *testing.T, u string) {
		uuid, secret, err := ParseMessageURL(u)
		if err == nil {
			if !ValidUUID(uuid) {
				t.Fatalf("ParseMessageURL(%q) gave uuid %q", u, uuid)
			}
			// Round trip through the shape messages carry.
			u2 := "https://h/org/app/chatfiles/" + uuid
			if secret != "" {
				u2 += "?share-secret=" + url.QueryEscape(secret)
			}
			uuid2, secret2, err := ParseMessageURL(u2)
			if err != nil || uuid2 != uuid || secret2 != secret {
				t.Fatalf("round trip %q -> %q: %q %q %v", u, u2, uuid2, secret2, err)
			}
		} else if len(err.Error()) > maxMessage {
			t.Fatalf("message too long: %d bytes", len(err.Error()))
		}
		// A share-secret never shows in an error message.
		if !strings.ContainsAny(u, "?#") && !strings.Contains(u, marker) {
			if _, _, err := ParseMessageURL(u + "?share-secret=" + marker); err != nil && strings.Contains(err.Error(), marker) {
				t.Fatalf("the share-secret leaks into %q", err.Error())
			}
		}
	})
}
