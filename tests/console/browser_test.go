package console

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium finds a Chromium binary, or skips the test saying why.
func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("OSTIUM_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no Chromium found (install Debian's chromium package or set OSTIUM_CHROMIUM): the console's browser tests need one")
	return ""
}

// browser is one headless Chromium tab on the console of a network.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string // https://host:port

	cancel    func()
	closeOnce sync.Once
	loaded    bool // the console's page is loaded in the tab

	mu         sync.Mutex
	exceptions []string
}

// One Chromium process serves the package's tests; each test gets a tab in
// a browser context of its own (no shared storage).
var shared struct {
	once   sync.Once
	ctx    context.Context // the first tab, which keeps the browser
	cancel func()
	dir    string
	err    error
}

// startChromium starts Chromium with a fresh profile. The flags keep it off
// the network: the machine has no internet, and without them Chromium
// keeps trying to reach Google's services.
func startChromium(exe string) {
	shared.dir, shared.err = os.MkdirTemp("", "ostium-console-chromium-")
	if shared.err != nil {
		return
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(shared.dir),
		// Each test network has a CA of its own; the browser is told to
		// accept the controller's certificate rather than have it installed.
		chromedp.IgnoreCertErrors,
		chromedp.WindowSize(1400, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	shared.ctx = ctx
	shared.cancel = func() { cancelTab(); cancelAlloc(); _ = os.RemoveAll(shared.dir) }
	shared.err = chromedp.Do(ctx, chromedp.Navigate("about:blank"))
}

// stopChromium ends the shared browser (from TestMain).
func stopChromium() {
	if shared.cancel != nil {
		shared.cancel()
	}
}

// newBrowser opens a tab on the console at base; close it with close (or
// it closes with the test).
func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	exe := chromium(t)
	shared.once.Do(func() { startChromium(exe) })
	if shared.err != nil {
		t.Fatalf("start %s: %v", exe, shared.err)
	}
	ctx, cancelTab := chromedp.NewContext(shared.ctx, chromedp.WithNewBrowserContext())
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	b := &browser{t: t, ctx: ctx, base: base, cancel: func() { cancelTime(); cancelTab() }}
	t.Cleanup(b.close)
	// The first action opens the tab, which lives as long as the context
	// of that action: so b.ctx, not one with an action's timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	exc := chromedp.Events(ctx, runtime.ExceptionThrown)
	go func() {
		for ev, err := range exc {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				d += " " + ev.ExceptionDetails.Exception.Description
			}
			b.mu.Lock()
			b.exceptions = append(b.exceptions, d)
			b.mu.Unlock()
		}
	}()
	return b
}

// close closes the tab and fails the test for every uncaught exception the
// page threw.
func (b *browser) close() {
	b.closeOnce.Do(func() {
		b.cancel()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, e := range b.exceptions {
			b.t.Errorf("uncaught exception in the console: %s", e)
		}
	})
}

// actionTimeout bounds one browser action, so that a step that cannot
// happen fails with its own message instead of running the test out.
const actionTimeout = 30 * time.Second

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v\n%s", err, b.notices())
	}
}

// open goes to a page of the console (a hash route such as "identities"):
// a load the first time, then a change of the hash, as a click on a link.
func (b *browser) open(route string) {
	b.t.Helper()
	if !b.loaded {
		b.do(chromedp.Navigate(b.base + "/console/#/" + route))
		b.loaded = true
		return
	}
	evalJS[chromedp.Void](b, fmt.Sprintf(`location.hash = %q`, "#/"+route))
}

func evalJS[T any](b *browser, js string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// waitFor polls a JavaScript condition until it holds.
func (b *browser) waitFor(what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, actionTimeout)
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && v {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waited 20 s for %s (%s): last error %v\nnotices: %s", what, js, err, b.notices())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitText waits until the element matching css contains text.
func (b *browser) waitText(css, text string) {
	b.t.Helper()
	b.waitFor(fmt.Sprintf("%q in %s", text, css), fmt.Sprintf(
		`[...document.querySelectorAll(%q)].some(e => e.textContent.includes(%q))`, css, text))
}

func (b *browser) typeInto(css, text string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(chromedp.CSS(css)), chromedp.SendKeys(chromedp.CSS(css), text))
}

// click clicks the element matching css once it is shown.
func (b *browser) click(css string) {
	b.t.Helper()
	b.waitFor("a visible "+css, fmt.Sprintf(`(e => !!e && e.offsetParent !== null)(document.querySelector(%q))`, css))
	evalJS[chromedp.Void](b, fmt.Sprintf(`document.querySelector(%q).click()`, css))
}

// clickText clicks the first element matching css whose text is text.
func (b *browser) clickText(css, text string) {
	b.t.Helper()
	b.waitText(css, text)
	evalJS[chromedp.Void](b, fmt.Sprintf(`[...document.querySelectorAll(%q)].find(e => e.textContent.trim() === %q).click()`, css, text))
}

// notices is the text of the notices the console shows (errors included).
func (b *browser) notices() string {
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('.notice')].map(n => n.textContent).join(' | ')`))
	if err != nil {
		return ""
	}
	return v
}

// signIn signs in with a password on the sign-in page.
func (b *browser) signIn(user, password string) {
	b.t.Helper()
	b.open("")
	b.typeInto(`#signin-password input[name=username]`, user)
	b.typeInto(`#signin-password input[name=password]`, password)
	b.click(`#signin-password button[type=submit]`)
	b.waitFor("the console after sign-in", `!!document.querySelector('.shell main')`)
}

// screenshot writes a PNG of the page to path.
func (b *browser) screenshot(path string) {
	b.t.Helper()
	buf, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func setValue(css, v string) chromedp.Action[chromedp.Void] {
	return chromedp.SetValue(chromedp.CSS(css), v)
}
