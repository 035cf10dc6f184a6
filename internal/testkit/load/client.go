package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Client calls the public API at Base and records every answer in Stats,
// by route: the method and the path's pattern, such as "GET /api/orders/:id".
type Client struct {
	Base  string
	HTTP  *http.Client
	Stats *Stats
}

// NewClient returns a Client of base that keeps up to conns connections
// open, so that many users at once do not each open a connection a request.
func NewClient(base string, conns int) *Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = conns
	t.MaxIdleConnsPerHost = conns
	return &Client{
		Base:  strings.TrimSuffix(base, "/"),
		HTTP:  &http.Client{Transport: t, Timeout: 30 * time.Second},
		Stats: NewStats(),
	}
}

// Answer is what the API answered: the status, the first error message
// of an error body, and the Retry-After of a 429.
type Answer struct {
	Status     int
	Message    string
	RetryAfter time.Duration
}

// Do sends method path with token as bearer (none if empty) and in as the
// JSON body (none if nil), records the answer under route, and decodes a
// 2xx body into out (when out is not nil). ok lists the statuses the caller
// expects: any other is counted as an error of the route. A transport error
// is recorded as status 0 and returned.
func (c *Client) Do(ctx context.Context, route, method, path, token string, in, out any, ok ...int) (Answer, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return Answer{}, fmt.Errorf("load: encode %s body: %w", route, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, body)
	if err != nil {
		return Answer{}, fmt.Errorf("load: %s: %w", route, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	start := time.Now()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			c.Stats.record(route, 0, start, time.Since(start), false)
		}
		return Answer{}, fmt.Errorf("load: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	a := Answer{Status: resp.StatusCode}
	if err != nil {
		c.Stats.record(route, 0, start, took, false)
		return a, fmt.Errorf("load: %s %s: read body: %w", method, path, err)
	}
	c.Stats.record(route, a.Status, start, took, expected(a.Status, ok))
	if a.Status >= 300 {
		var e struct {
			Errors []struct{ Message string } `json:"errors"`
		}
		if json.Unmarshal(raw, &e) == nil && len(e.Errors) > 0 {
			a.Message = e.Errors[0].Message
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			a.RetryAfter = time.Duration(s) * time.Second
		}
		return a, nil
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return a, fmt.Errorf("load: %s %s: decode %d answer: %w", method, path, a.Status, err)
		}
	}
	return a, nil
}

func expected(status int, ok []int) bool {
	for _, s := range ok {
		if s == status {
			return true
		}
	}
	return false
}
