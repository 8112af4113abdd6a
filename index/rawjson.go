package index

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Records are stored as JSON, which can only carry UTF-8: encoding/json
// replaces every byte that is not part of valid UTF-8 with U+FFFD, so a
// file named "\xff\xfe.bin" would come back as "\uFFFD\uFFFD.bin" and name a
// file that does not exist. marshal keeps such strings exactly: the field
// holds a readable form (invalid bytes as U+FFFD) and a member rawKey maps
// the field's JSON name to the base64 of its exact bytes; unmarshal puts the
// exact bytes back. Records whose strings are all UTF-8 (nearly all) are
// plain JSON, as before, and a reader that ignores rawKey still reads
// everything else.
const rawKey = "raw"

// marshal encodes v, a pointer to a struct, as JSON with exact strings.
func marshal(v any) ([]byte, error) {
	raw := map[string]string{}
	rv := reflect.ValueOf(v).Elem()
	for _, sf := range reflect.VisibleFields(rv.Type()) {
		if !sf.IsExported() || sf.Type.Kind() != reflect.String {
			continue
		}
		if s := rv.FieldByIndex(sf.Index).String(); !utf8.ValidString(s) {
			raw[jsonName(sf)] = base64.StdEncoding.EncodeToString([]byte(s))
		}
	}
	b, err := json.Marshal(v)
	if err != nil || len(raw) == 0 {
		return b, err
	}
	extra, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	// b is a JSON object: add `"raw":{…}` before its closing brace.
	b = bytes.TrimSuffix(b, []byte("}"))
	if len(b) > 1 {
		b = append(b, ',')
	}
	b = append(b, `"`+rawKey+`":`...)
	b = append(b, extra...)
	return append(b, '}'), nil
}

// unmarshal decodes what marshal encoded into v, a pointer to a struct.
func unmarshal(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return err
	}
	if !bytes.Contains(b, []byte(`"`+rawKey+`"`)) {
		return nil
	}
	var extra struct {
		Raw map[string]string `json:"raw"`
	}
	if err := json.Unmarshal(b, &extra); err != nil || len(extra.Raw) == 0 {
		return err
	}
	rv := reflect.ValueOf(v).Elem()
	for _, sf := range reflect.VisibleFields(rv.Type()) {
		if !sf.IsExported() || sf.Type.Kind() != reflect.String {
			continue
		}
		enc, ok := extra.Raw[jsonName(sf)]
		if !ok {
			continue
		}
		s, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			return err
		}
		rv.FieldByIndex(sf.Index).SetString(string(s))
	}
	return nil
}

// jsonName is the member name encoding/json uses for sf.
func jsonName(sf reflect.StructField) string {
	if name, _, _ := strings.Cut(sf.Tag.Get("json"), ","); name != "" && name != "-" {
		return name
	}
	return sf.Name
}
