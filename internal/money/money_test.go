package money

import (
	"encoding/json"
	"testing"
)

func TestParseAndRender(t *testing.T) {
	for in, want := range map[string]Cents{"20": 2000, "20.5": 2050, "20.50": 2050, "0.01": 1, "1e1": 1000, "19.99": 1999, "-3": -300} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%s) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"20.001", "abc", "1e400", "NaN", "0.123"} {
		if got, err := Parse(in); err == nil {
			t.Errorf("Parse(%s) = %d, want an error", in, got)
		}
	}
	for c, want := range map[Cents]string{2000: "20", 2050: "20.5", 1999: "19.99", 1: "0.01"} {
		b, _ := json.Marshal(c)
		if string(b) != want {
			t.Errorf("marshal %d = %s, want %s", c, b, want)
		}
	}
	var v struct{ Price Cents }
	if err := json.Unmarshal([]byte(`{"Price":"20"}`), &v); err == nil {
		t.Error("a string price was accepted")
	}
}
