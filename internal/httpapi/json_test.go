package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDecode(t *testing.T) {
	type body struct {
		Title string  `json:"title"`
		Price float64 `json:"price"`
	}
	for _, tt := range []struct {
		name, in string
		want     string // the first problem, "" for success
	}{
		{"empty", "", ""},
		{"object", `{"title":"a","price":1}`, ""},
		{"unknown fields are ignored", `{"title":"a","extra":true}`, ""},
		{"wrong type", `{"title":5}`, "title: title must be a string"},
		{"number wanted", `{"price":"x"}`, "price: price must be a number"},
		{"syntax", `{"title":`, "Request body is not valid JSON"},
		{"array", `[]`, "Request body must be a JSON object"},
		{"too big", `{"title":"` + strings.Repeat("x", MaxBodyBytes) + `"}`, "Request body is larger than 65536 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var v body
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.in))
			r.Header.Set("Content-Type", "application/json")
			err := Decode(httptest.NewRecorder(), r, &v)
			var apiErr *Error
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("error %v", err)
			case tt.want == "":
			case !errors.As(err, &apiErr) || apiErr.Status != 400:
				t.Fatalf("error %v, want a 400", err)
			default:
				p := apiErr.Problems[0]
				got := p.Message
				if p.Field != "" {
					got = p.Field + ": " + p.Message
				}
				if got != tt.want {
					t.Errorf("problem %q, want %q", got, tt.want)
				}
			}
		})
	}
}

// TestDecodeWantsJSON: a body is read only when it says it is JSON; what a
// browser may send to another site unasked (text/plain, a form) is a 415.
func TestDecodeWantsJSON(t *testing.T) {
	for _, tt := range []struct {
		contentType, body string
		status            int // 0 for success
	}{
		{"application/json", `{"title":"a"}`, 0},
		{"application/json; charset=utf-8", `{"title":"a"}`, 0},
		{"Application/JSON;charset=UTF-8", `{"title":"a"}`, 0},
		{"application/json; charset", `{"title":"a"}`, 0},
		{"", "", 0},                                        // no body, nothing to declare: signout, a bodiless POST
		{"text/plain", "  ", 0},                            // nothing to read either
		{"", `{"title":"a"}`, 415},                         // a body of no declared type
		{"text/plain", `{"title":"a"}`, 415},               // the cross-site form post
		{"text/plain;charset=UTF-8", `{"title":"a"}`, 415}, // fetch() with a string body
		{"application/x-www-form-urlencoded", `title=a`, 415},
		{"multipart/form-data; boundary=x", "--x--", 415},
		{"application/jsonp", `{"title":"a"}`, 415},
		{"application/merge-patch+json", `{"title":"a"}`, 415},
	} {
		var v struct{ Title string }
		r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
		if tt.contentType != "" {
			r.Header.Set("Content-Type", tt.contentType)
		}
		err := Decode(httptest.NewRecorder(), r, &v)
		var apiErr *Error
		switch {
		case tt.status == 0 && err != nil:
			t.Errorf("%q %q: %v, want it read", tt.contentType, tt.body, err)
		case tt.status == 0:
		case !errors.As(err, &apiErr) || apiErr.Status != tt.status:
			t.Errorf("%q %q: %v, want a %d", tt.contentType, tt.body, err, tt.status)
		case apiErr.Problems[0].Message != "Content-Type must be application/json" || v.Title != "":
			t.Errorf("%q %q: %+v, decoded %+v", tt.contentType, tt.body, apiErr.Problems, v)
		}
	}
}

func TestWriteErrorKeepsBugsAndOutagesApart(t *testing.T) {
	for _, tt := range []struct {
		err    error
		status int
		body   string
	}{
		{NotFound(), 404, `{"errors":[{"message":"Not Found"}]}`},
		{Invalid("title", "Title is required"), 400, `{"errors":[{"message":"Title is required","field":"title"}]}`},
		{errors.New("bug"), 500, `{"errors":[{"message":"Something went wrong"}]}`},
		{UnsupportedMediaType(), 415, `{"errors":[{"message":"Content-Type must be application/json"}]}`},
		{TooManyRequests(0), 429, `{"errors":[{"message":"Too many requests"}]}`},
	} {
		w := httptest.NewRecorder()
		WriteError(w, httptest.NewRequest(http.MethodGet, "/", nil), tt.err)
		if w.Code != tt.status || strings.TrimSpace(w.Body.String()) != tt.body {
			t.Errorf("%v: %d %s", tt.err, w.Code, w.Body)
		}
	}
}

// TestRetryAfterInWholeSeconds: a client told to wait may try again when it
// has waited what it was told, never before it would be let in.
func TestRetryAfterInWholeSeconds(t *testing.T) {
	for wait, want := range map[time.Duration]string{
		0:                       "",
		time.Millisecond:        "1",
		time.Second:             "1",
		1500 * time.Millisecond: "2",
		15 * time.Minute:        "900",
	} {
		w := httptest.NewRecorder()
		WriteError(w, httptest.NewRequest(http.MethodPost, "/", nil), TooManyRequests(wait))
		if got := w.Header().Get("Retry-After"); got != want {
			t.Errorf("wait %s: Retry-After %q, want %q", wait, got, want)
		}
	}
}
