package faults_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/chatfs/chatfs/remote/faults"
)

func TestClassify(t *testing.T) {
	const uuid = "5fd74830-5796-11e9-9ed2-2b3b4c4a1e5f"
	tests := []struct {
		method, path string
		thumb        string
		want         faults.Endpoint
	}{
		{"POST", "/app-id/A/chatfiles", "", faults.Upload},
		{"POST", "/org/app/chatfiles/", "", faults.Upload},
		{"GET", "/org/app/chatfiles/" + uuid, "", faults.Download},
		{"GET", "/org/app/chatfiles/" + uuid, "true", faults.Thumbnail},
		{"GET", "/org/app/chatfiles/" + uuid, " TRUE ", faults.Thumbnail},
		{"GET", "/org/app/chatfiles/" + uuid, "false", faults.Download},
		{"GET", "/org/app/chatfiles/not-checked", "", faults.Download},
		{"POST", "/org/app/token", "", faults.Token},
		{"GET", "/org/app/chatfiles", "", faults.Other},
		{"GET", "/org/app/chatfiles/a/b", "", faults.Other},
		{"PUT", "/org/app/chatfiles", "", faults.Other},
		{"DELETE", "/org/app/chatfiles/" + uuid, "", faults.Other},
		{"GET", "/", "", faults.Other},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		if tt.thumb != "" {
			r.Header.Set("thumbnail", tt.thumb)
		}
		assert.Equal(t, tt.want, faults.Classify(r), "%s %s thumbnail=%q", tt.method, tt.path, tt.thumb)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	var o faults.Options
	o.Rates[faults.Other][faults.Drop] = 2
	_, err := faults.New(o)
	assert.Error(t, err)
	_, err = faults.New(faults.Options{StallFor: -time.Second})
	assert.Error(t, err)
}
