package auth

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/config"
)

func TestShortJWTKeyRefusesToStart(t *testing.T) {
	for _, tt := range []struct {
		key  string
		want string // in the error; empty for none
	}{
		{strings.Repeat("k", MinKeyLength-1), "JWT_KEY: is 31 bytes long, shorter than the 32 bytes"},
		{"", "JWT_KEY: is required"},
		{strings.Repeat("k", MinKeyLength), ""},
	} {
		cfg := config.FromMap(map[string]string{"JWT_KEY": tt.key})
		ConfigFromEnv(cfg)
		err := cfg.Err()
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("a %d-byte key: %v, want it accepted", len(tt.key), err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("a %d-byte key: %v, want an error with %q", len(tt.key), err, tt.want)
		}
	}
}

func TestInstantKeepsMilliseconds(t *testing.T) {
	at := time.UnixMilli(1764842400123).UTC()
	b, err := json.Marshal(Instant{at})
	if err != nil || string(b) != "1764842400.123" {
		t.Fatalf("marshal: %s %v", b, err)
	}
	for in, want := range map[string]time.Time{
		"1764842400.123":    at,
		"1764842400.1239":   at,
		"1764842400.1":      time.UnixMilli(1764842400100).UTC(),
		"1764842400":        time.Unix(1764842400, 0).UTC(),
		"1764842400.000001": time.Unix(1764842400, 0).UTC(),
	} {
		// Inside an object, as in a token: reading iat leaves what follows it.
		var got struct {
			IAT  Instant `json:"iat"`
			Next string  `json:"next"`
		}
		if err := json.Unmarshal([]byte(`{"iat":`+in+`,"next":"kept"}`), &got); err != nil || !got.IAT.Equal(want) || got.Next != "kept" {
			t.Errorf("unmarshal %s: %+v %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{`"1764842400"`, "-1", "1e9", "12.ab"} {
		var got Instant
		if err := json.Unmarshal([]byte(in), &got); err == nil {
			t.Errorf("unmarshal %s: %v, want an error", in, got.Time)
		}
	}
}
