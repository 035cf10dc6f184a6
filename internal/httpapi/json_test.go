package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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

func TestWriteErrorKeepsBugsAndOutagesApart(t *testing.T) {
	for _, tt := range []struct {
		err    error
		status int
		body   string
	}{
		{NotFound(), 404, `{"errors":[{"message":"Not Found"}]}`},
		{Invalid("title", "Title is required"), 400, `{"errors":[{"message":"Title is required","field":"title"}]}`},
		{errors.New("bug"), 500, `{"errors":[{"message":"Something went wrong"}]}`},
	} {
		w := httptest.NewRecorder()
		WriteError(w, httptest.NewRequest(http.MethodGet, "/", nil), tt.err)
		if w.Code != tt.status || strings.TrimSpace(w.Body.String()) != tt.body {
			t.Errorf("%v: %d %s", tt.err, w.Code, w.Body)
		}
	}
}
