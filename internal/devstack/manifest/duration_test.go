package manifest_test

import (
	"testing"
	"time"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/manifest"
)

func TestParseDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"PT0.5S", 500 * time.Millisecond},
		{"PT0,5S", 500 * time.Millisecond},
		{"PT30S", 30 * time.Second},
		{"PT1M30S", 90 * time.Second},
		{"PT1.5M", 90 * time.Second},
		{"PT2H", 2 * time.Hour},
		{"P1D", 24 * time.Hour},
		{"P1DT2H3M4.25S", 26*time.Hour + 3*time.Minute + 4250*time.Millisecond},
		{"P1W", 7 * 24 * time.Hour},
		{"PT0S", 0},
		{"PT0.001S", time.Millisecond},
	} {
		got, err := manifest.ParseDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	for _, in := range []string{
		"", "P", "PT", "0.5S", "30s", "PT30", "PTS", "P1H", "PT1D", "P1Y", "P1M",
		"PT1S1M", "PT1M1M", "P1DT", "PT1ST", "-PT1S", "PT1..5S", "PTT1S",
	} {
		if got, err := manifest.ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, got)
		}
	}
}
