package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/ticketing-on-knative/ticketing/internal/devstack/devstacktest"
)

// TestWeb is the web site in headless Chromium, through devstack: a seller
// lists a ticket, a buyer in another browser buys it, is declined with one
// test card and pays with another, the seller's edit is refused while it is
// reserved, an unpaid order expires on screen, and a validation error shows
// next to its field.
func TestWeb(t *testing.T) {
	t.Parallel()
	s := start(t, devstacktest.Options{Env: []string{"ORDER_TTL=30s"}})
	t.Logf("devstack serves %s", s.URL)
	browser := newBrowser(t)
	seller, buyer := browser.person(t, s.URL), browser.person(t, s.URL)

	seller.open("/signup")
	seller.fill("#field-email", "not an email")
	seller.fill("#field-password", "abc")
	seller.click("form button[type=submit]")
	seller.waitText("#field-email-error", "Email must be valid")
	seller.waitText("#field-password-error", "Password must be between 4 and 20 characters")
	seller.shot("signup-validation")
	signUp := func(p *person, email string) {
		p.open("/signup")
		p.fill("#field-email", email)
		p.fill("#field-password", "secret12")
		// The keyboard alone submits a form.
		p.do(chromedp.SendKeys("#field-password", kb.Enter))
		p.waitText("#session", email)
	}
	signUp(seller, fmt.Sprintf("seller-%d@example.com", time.Now().UnixNano()))

	sellTicket := func(title, price string) string {
		seller.click(`nav a[href="/tickets/new"]`)
		seller.fill("#field-title", title)
		seller.fill("#field-price", price)
		seller.click("form button[type=submit]")
		seller.waitText("h1", title)
		return seller.path()
	}
	concert := sellTicket("Concert in the park", "20.50")
	seller.waitText("dd.price", "$20.50")
	seller.shot("ticket")

	signUp(buyer, fmt.Sprintf("buyer-%d@example.com", time.Now().UnixNano()))
	buyer.click(`nav a[href="/"]`)
	buyer.waitText("main", "Concert in the park")
	buyer.shot("tickets")
	buyer.click(fmt.Sprintf(`a[href=%q]`, concert))
	buyer.waitText("h1", "Concert in the park")
	buyer.clickText("button", "Buy")
	buyer.waitText("dd", "to pay")
	order := buyer.path()
	if !strings.HasPrefix(order, "/orders/") {
		t.Fatalf("Buy went to %s, not to the order's page", order)
	}
	buyer.shot("order")

	seller.open(concert + "/edit")
	seller.fill("#field-price", "25")
	seller.click("form button[type=submit]")
	seller.waitText("form .message", "Cannot edit a reserved ticket")
	seller.shot("edit-refused")

	buyer.click(`input[value="tok_chargeDeclined"]`)
	buyer.clickText("button", "Pay")
	buyer.waitText(".message.error", "Your card was declined.")
	buyer.shot("declined")
	buyer.click(`input[value="tok_visa"]`)
	buyer.clickText("button", "Pay")
	// The page follows the order to complete without a reload.
	buyer.waitText(".status", "Paid")
	buyer.shot("paid")

	late := sellTicket("Late show", "12")
	buyer.open(late)
	buyer.clickText("button", "Buy")
	buyer.waitText("dd", "to pay")
	buyer.waitText(".status", "Cancelled")
	buyer.shot("expired")

	buyer.click(`nav a[href="/orders"]`)
	buyer.waitText("main", "Late show")
	titles := result(buyer, chromedp.Evaluate[[]string](`[...document.querySelectorAll("ul.cards li a")].map(a => a.textContent)`))
	if want := []string{"Late show", "Concert in the park"}; strings.Join(titles, "|") != strings.Join(want, "|") {
		t.Errorf("my orders: %q, want the newest first: %q", titles, want)
	}
	buyer.shot("orders")

	// On a phone's screen nothing is wider than the screen.
	buyer.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	buyer.open(late)
	buyer.waitText("h1", "Late show")
	if wide := result(buyer, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > innerWidth`)); wide {
		t.Error("on a 390 px wide screen the ticket's page scrolls sideways")
	}
	buyer.shot("phone")
}

// browser is one headless Chromium from Debian's package.
type browser struct{ ctx context.Context }

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatalf("chromium is not installed: install Debian's chromium package (make test does): %v", err)
	}
	// As root Chromium needs --no-sandbox; the background-networking flags
	// keep it from calling Google's hosts, which this machine cannot reach.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1024, 768),
		chromedp.UserDataDir(t.TempDir()),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{ctx: ctx}
}

// person is one browser context: cookies of its own, as another browser.
type person struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func (b *browser) person(t *testing.T, base string) *person {
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	// The first run on a context opens its tab for as long as the context
	// it was given lives: this one, not the minute of one step.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a browser context: %v", err)
	}
	return &person{t: t, ctx: ctx, base: base}
}

// result runs action and returns its value, failing the test with what the
// page shows when it does not finish within a minute.
func result[T any](p *person, action chromedp.Action[T]) T {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
		defer cancel()
		url, _ := chromedp.Run(ctx, chromedp.Location())
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		p.t.Fatalf("%v\non %s the page shows:\n%s", err, url, text)
	}
	return v
}

// do runs steps as result does.
func (p *person) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	result(p, chromedp.Steps(steps...))
}

func (p *person) open(path string) { p.t.Helper(); p.do(chromedp.Navigate(p.base + path)) }

func (p *person) fill(sel, text string) {
	p.t.Helper()
	q, _ := json.Marshal(sel)
	p.do(chromedp.WaitVisible(sel))
	// chromedp's SetValue cannot set "": it takes the empty answer for a failure.
	result(p, chromedp.Evaluate[bool](fmt.Sprintf(`(e => (e.value = "", true))(document.querySelector(%s))`, q)))
	p.do(chromedp.SendKeys(sel, text))
}

func (p *person) click(sel string) {
	p.t.Helper()
	p.do(chromedp.WaitVisible(sel), chromedp.Click(sel))
}

// clickText clicks the visible element of tag whose text is text.
func (p *person) clickText(tag, text string) {
	p.t.Helper()
	p.click(fmt.Sprintf(`//%s[normalize-space(.)=%q and not(ancestor::*[@hidden])]`, tag, text))
}

// waitText waits until an element that sel selects contains text.
func (p *person) waitText(sel, text string) {
	p.t.Helper()
	s, _ := json.Marshal(sel)
	w, _ := json.Marshal(text)
	result(p, chromedp.Poll[bool](fmt.Sprintf(`[...document.querySelectorAll(%s)].some(e => e.textContent.includes(%s))`, s, w),
		chromedp.WithPollingTimeout(50*time.Second)))
}

// path is the path of the page shown.
func (p *person) path() string {
	p.t.Helper()
	return result(p, chromedp.Evaluate[string](`location.pathname`))
}

// shot saves a screenshot of the page as name.png: with SCREENSHOTS=1 in
// docs/screenshots, where the README's come from, else in a temporary folder,
// so that a test run leaves the tree as it was.
func (p *person) shot(name string) {
	p.t.Helper()
	png := result(p, chromedp.FullScreenshot(100))
	dir := p.t.TempDir()
	if os.Getenv("SCREENSHOTS") == "1" {
		dir = "../docs/screenshots"
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		p.t.Fatal(err)
	}
}
