package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/boombuler/barcode/qr"
	"github.com/chromedp/chromedp"

	"github.com/ostium-net/ostium/controller/console"
)

// reference draws text as a QR code with boombuler/barcode, an independent
// encoder, as rows of '1' (dark) and '0'.
func reference(text, level string) ([]string, error) {
	lv := map[string]qr.ErrorCorrectionLevel{"L": qr.L, "M": qr.M, "Q": qr.Q, "H": qr.H}[level]
	code, err := qr.Encode(text, lv, qr.Unicode)
	if err != nil {
		return nil, err
	}
	b := code.Bounds()
	rows := make([]string, b.Dy())
	for y := range rows {
		var sb strings.Builder
		for x := 0; x < b.Dx(); x++ {
			if code.At(x, y) == color.Black {
				sb.WriteByte('1')
			} else {
				sb.WriteByte('0')
			}
		}
		rows[y] = sb.String()
	}
	return rows, nil
}

// TestQRCodesMatchAnIndependentEncoder draws texts that fill versions 1 to
// 40 exactly (at level L, which enrollment JWTs use, and a spread of
// versions at M, Q and H) with the console's encoder in the browser, and
// compares them module by module with another encoder's output. Encoders
// may choose different masks (any mask is valid), so the console's is asked
// for each mask in turn: one of the eight must give exactly the reference's
// matrix. That checks the version choice, the data and padding, the
// Reed-Solomon blocks and their interleaving, the placement, and the format
// and version information.
func TestQRCodesMatchAnIndependentEncoder(t *testing.T) {
	h, err := console.Mount(http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	b := newBrowser(t, srv.URL)
	b.open("")
	b.waitFor("the sign-in page", `!!document.querySelector('#signin-password')`)

	// The byte capacity of each version and level, as the console counts it;
	// the reference choosing the same version for a text of exactly that
	// length checks the count.
	capacity, err := chromedp.Run(b.ctx, chromedp.Evaluate[map[string][]int](`(async () => {
		const { dataCodewords } = await import('/console/js/qr.js');
		const out = {};
		for (const l of ['L', 'M', 'Q', 'H']) {
			out[l] = [0];
			for (let v = 1; v <= 40; v++) out[l].push(Math.floor((dataCodewords(v, l) * 8 - 4 - (v < 10 ? 8 : 16)) / 8));
		}
		return out;
	})()`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if capacity["L"][1] != 17 || capacity["L"][40] != 2953 || capacity["H"][40] != 1273 {
		t.Fatalf("byte capacities: 1-L %d (want 17), 40-L %d (want 2953), 40-H %d (want 1273)", capacity["L"][1], capacity["L"][40], capacity["H"][40])
	}
	type sample struct {
		Text, Level string
		Rows        []string
	}
	jwtish := strings.Repeat("eyJhbGciOiJFUzI1NiIsImtpZCI6ImFiYyJ9.eyJzdWIiOiJ4In0-_", 60)
	var samples []sample
	start := time.Now()
	add := func(level, text string) { samples = append(samples, sample{Text: text, Level: level}) }
	// Every version up to 12 (the small ones where layouts change most) and
	// a spread above, at every level; the large versions dominate the time.
	for _, level := range []string{"L", "M", "Q", "H"} {
		for _, v := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 15, 19, 24, 32, 40} {
			if level != "L" && v > 12 && v != 24 {
				continue
			}
			add(level, jwtish[:capacity[level][v]])
		}
	}
	add("M", "https://ctrl.example:1280 ünïcödé ✓")
	add("L", "x")

	var wg sync.WaitGroup
	errs := make([]error, len(samples))
	for i := range samples {
		wg.Go(func() { samples[i].Rows, errs[i] = reference(samples[i].Text, samples[i].Level) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("reference encoder: %v", err)
	}
	t.Logf("reference codes drawn in %v", time.Since(start))
	start = time.Now()
	in, _ := json.Marshal(samples)
	js := fmt.Sprintf(`(async () => {
		const { encode } = await import('/console/js/qr.js');
		const out = [];
		for (const s of %s) {
			let found = -1, version = 0, err = '';
			try {
				version = encode(s.Text, { level: s.Level }).version;
				for (let m = 0; m < 8 && found < 0; m++) {
					const rows = encode(s.Text, { level: s.Level, mask: m }).modules.map(r => r.map(d => d ? '1' : '0').join(''));
					if (rows.length === s.Rows.length && rows.every((r, i) => r === s.Rows[i])) found = m;
				}
			} catch (e) { err = String(e); }
			out.push({ version, found, err });
		}
		return out;
	})()`, in)
	results, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]struct {
		Version, Found int
		Err            string
	}](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range results {
		s := samples[i]
		if want := (len(s.Rows) - 17) / 4; r.Err != "" || r.Version != want || r.Found < 0 {
			t.Errorf("%d bytes at level %s: version %d (reference %d), matching mask %d, error %q",
				len(s.Text), s.Level, r.Version, want, r.Found, r.Err)
		}
	}
	t.Logf("console codes drawn in %v", time.Since(start))
	if len(results) != len(samples) {
		t.Fatalf("%d results for %d samples", len(results), len(samples))
	}
	t.Logf("%d codes compared module by module", len(results))
}
