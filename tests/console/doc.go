// Package console tests the web admin console in a real browser: headless
// Chromium, driven from Go with chromedp, against a whole network started
// by tests/harness. The tests skip, saying why, when no Chromium is
// installed (Debian's package is `chromium`; OSTIUM_CHROMIUM names another
// binary).
package console
