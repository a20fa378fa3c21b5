package console_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserPath finds a Chromium: SWITCHBOARD_TEST_CHROMIUM, else Debian's chromium or another
// on PATH.
func browserPath() string {
	if p := os.Getenv("SWITCHBOARD_TEST_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser is a headless Chromium tab, with what its pages threw and which CSP violations
// they reported.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := browserPath()
	if path == "" {
		t.Skip("no Chromium found (install Debian's chromium package, or set SWITCHBOARD_TEST_CHROMIUM): the console's browser tests cannot run")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 860),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{ctx: ctx}
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first action starts the browser, with no deadline (one would stop the browser).
	if err := chromedp.Listen(ctx, b.listen); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return b
}

// listen keeps what the pages threw or logged as errors.
func (b *browser) listen(ev any) {
	var p string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		p = "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			p += " " + ev.ExceptionDetails.Exception.Description
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		p = "console.error:"
		for _, a := range ev.Args {
			p += " " + a.Description + string(a.Value)
		}
	default:
		return
	}
	b.mu.Lock()
	b.problems = append(b.problems, p)
	b.mu.Unlock()
}

// do runs actions with a deadline, failing the test with what was being done.
func (b *browser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.fail(t, what, err)
	}
}

func (b *browser) fail(t *testing.T, what string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ''`))
	b.mu.Lock()
	defer b.mu.Unlock()
	t.Fatalf("%s: %v\nthe page said: %s\nproblems: %v", what, err, text, b.problems)
}

// evalJS evaluates a script (a promise is awaited) into a T.
func evalJS[T any](t *testing.T, b *browser, what, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail(t, what, err)
	}
	return v
}

// waitJS waits until js evaluates to true.
func (b *browser) waitJS(t *testing.T, what, js string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		b.fail(t, "wait for "+what, err)
	}
}

// open loads the console at path (after /console/) and waits for sel.
func (b *browser) open(t *testing.T, url, sel string) {
	t.Helper()
	b.do(t, "open "+url, chromedp.Navigate(url))
	b.waitSel(t, sel)
}

// waitSel waits for an element matching the CSS selector.
func (b *browser) waitSel(t *testing.T, sel string) {
	t.Helper()
	b.waitJS(t, sel, fmt.Sprintf(`!!document.querySelector(%s)`, js(sel)))
}

// text is the text of the first element matching sel.
func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	b.waitSel(t, sel)
	return evalJS[string](t, b, "read "+sel, fmt.Sprintf(`document.querySelector(%s).innerText`, js(sel)))
}

// checkClean fails the test on what the pages threw, logged as errors, or what the CSP refused.
func (b *browser) checkClean(t *testing.T) {
	t.Helper()
	csp := evalJS[[]string](t, b, "read CSP violations", `window.__csp || []`)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range append(b.problems, csp...) {
		t.Errorf("browser: %s", p)
	}
}

var axeSource = sync.OnceValues(func() (string, error) {
	b, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	return string(b), err
})

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axe runs axe-core on the page as it is and fails the test on serious or critical violations.
func (b *browser) axe(t *testing.T, page string) {
	t.Helper()
	src, err := axeSource()
	if err != nil {
		t.Fatalf("axe-core: %v", err)
	}
	evalJS[bool](t, b, "inject axe-core", src+";\ntypeof axe === 'object'")
	violations := evalJS[[]axeViolation](t, b, "run axe-core on "+page, `axe.run(document, {resultTypes: ['violations']}).then(r => r.violations
		.filter(v => v.impact === 'serious' || v.impact === 'critical')
		.map(v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(' '))})))`)
	for _, v := range violations {
		t.Errorf("axe on %s: %s (%s): %s at %v", page, v.ID, v.Impact, v.Help, v.Nodes)
	}
}

// screenshot writes the page to $SWITCHBOARD_CONSOLE_SCREENSHOTS/<name>.png when it is set.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("SWITCHBOARD_CONSOLE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.fail(t, "screenshot "+name, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// js quotes s as a JavaScript string.
func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// setEditor replaces the text of the page's CodeMirror editor, as typing would.
func (b *browser) setEditor(t *testing.T, text string) {
	t.Helper()
	b.waitSel(t, ".cm-editor")
	evalJS[bool](t, b, "set the editor's text", fmt.Sprintf(`import('/console/vendor/codemirror.js').then(m => {
		const v = m.EditorView.findFromDOM(document.querySelector('.cm-editor'));
		v.dispatch({changes: {from: 0, to: v.state.doc.length, insert: %s}});
		return true;
	})`, js(text)))
}

// fill sets an input's value as typing would (Preact listens to input events).
func (b *browser) fill(t *testing.T, sel, value string) {
	t.Helper()
	b.waitSel(t, sel)
	evalJS[bool](t, b, "fill "+sel, fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		Object.getOwnPropertyDescriptor(Object.getPrototypeOf(el), 'value').set.call(el, %s);
		el.dispatchEvent(new Event('input', {bubbles: true}));
		return true;
	})()`, js(sel), js(value)))
}

// clickText clicks the first enabled button or link whose text is text.
func (b *browser) clickText(t *testing.T, text string) {
	t.Helper()
	find := fmt.Sprintf(`[...document.querySelectorAll('button, a')].find(e => e.textContent.trim() === %s && !e.disabled)`, js(text))
	b.waitJS(t, "a button "+text, "!!"+find)
	evalJS[bool](t, b, "click "+text, "("+find+").click(), true")
}

// waitText waits until the page's text contains text.
func (b *browser) waitText(t *testing.T, text string) {
	t.Helper()
	b.waitJS(t, "the text "+js(text), fmt.Sprintf(`!!document.body && document.body.innerText.includes(%s)`, js(text)))
}

// watchCSP records the page's CSP violations in window.__csp, from before its own scripts run.
func watchCSP() chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
			Source: `window.__csp = []; document.addEventListener('securitypolicyviolation', e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber));`,
		})
		return err
	})
}
