package servicekit_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/pkg/servicekit"
)

const document = `
swagger: "2.0"
info: {title: Greeter, version: "1.0"}
host: greeter:8091
basePath: /
x-exosite-health-path: /health
paths:
  /greetings/{name}:
    get:
      operationId: greet
      parameters:
        - {name: name, in: path, required: true, type: string}
        - {name: punctuation, in: query, type: string}
`

// exampleHub stands in for a Switchboard hub: it accepts registrations and answers calls of
// Keystore get and triggers of events.
func exampleHub() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/register/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer registration-token" {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"error":"invalid registration token"}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"name":"greeter","token":"service-token","status":"registered"}`)
	})
	mux.HandleFunc("POST /api/v1/call/{solution}/{service}/{operation}", func(w http.ResponseWriter, r *http.Request) {
		var args map[string]string
		_ = json.NewDecoder(r.Body).Decode(&args)
		if r.PathValue("solution") != "demo" {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"error":"solution %s not found","status":404}`, r.PathValue("solution"))
			return
		}
		fmt.Fprintf(w, `{"value":"stored under %s"}`, args["key"])
	})
	mux.HandleFunc("POST /api/v1/trigger/{solution}/{service}/{event}", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("mode") == "async" {
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprint(w, `{"id":"evt-42"}`)
			return
		}
		fmt.Fprintf(w, `{"handled":%q}`, r.PathValue("event"))
	})
	return httptest.NewServer(mux)
}

func newGreeter(hubURL string) *servicekit.Service {
	svc, err := servicekit.New(servicekit.Config{
		Name:              "greeter",
		HubURL:            hubURL,
		RegistrationToken: "registration-token",
		Document:          []byte(document),
		Logger:            slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	return svc
}

// A complete service: build it from its document, give each operation a function, and Run
// it; Run registers with the hub once it is listening and stops when ctx is done.
func Example() {
	svc, err := servicekit.New(servicekit.Config{
		Name:              "greeter",
		HubURL:            os.Getenv("SWITCHBOARD_URL"),
		RegistrationToken: os.Getenv("SWITCHBOARD_REGISTRATION_TOKEN"),
		Document:          []byte(document),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	svc.Handle("greet", func(ctx context.Context, req *servicekit.Request) (any, error) {
		return map[string]any{"greeting": fmt.Sprintf("hello %v", req.Args["name"])}, nil
	})
	if os.Getenv("SWITCHBOARD_URL") == "" {
		return // nothing to register with here
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := svc.Run(ctx, ":8091"); err != nil {
		fmt.Println(err)
	}
}

// Handle receives the call's arguments in req.Args: the JSON body's keys, the query and the
// path parameters of the operation's template.
func ExampleService_Handle() {
	svc, _ := servicekit.New(servicekit.Config{
		Name:               "greeter",
		Document:           []byte(document),
		InsecureSkipVerify: true, // local testing only: accept unsigned calls
		Logger:             slog.New(slog.DiscardHandler),
	})
	svc.Handle("greet", func(ctx context.Context, req *servicekit.Request) (any, error) {
		if req.Args["name"] == "nobody" {
			return nil, servicekit.Errorf(http.StatusNotFound, "nobody to greet")
		}
		return map[string]any{"greeting": fmt.Sprintf("hello %v%v", req.Args["name"], req.Args["punctuation"]), "solution": req.Solution}, nil
	})

	for _, target := range []string{"/greetings/ada?punctuation=!", "/greetings/nobody", "/health"} {
		r := httptest.NewRequest("GET", target, nil)
		r.Header.Set("X-Switchboard-Solution", "demo")
		w := httptest.NewRecorder()
		svc.Handler().ServeHTTP(w, r)
		fmt.Print(w.Code, " ", w.Body.String()) // answers end with a newline
	}
	// Output:
	// 200 {"greeting":"hello ada!","solution":"demo"}
	// 404 {"error":"nobody to greet"}
	// 200 {"status":"ok"}
}

func ExampleService_Register() {
	hub := exampleHub()
	defer hub.Close()
	svc := newGreeter(hub.URL)

	// In a program, Run registers once the service is listening (the hub probes its health
	// path before accepting); Register retries until the hub answers.
	if err := svc.Register(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("token:", svc.Token())
	// Output:
	// token: service-token
}

func ExampleService_Call() {
	hub := exampleHub()
	defer hub.Close()
	svc := newGreeter(hub.URL)
	_ = svc.Register(context.Background())

	ctx := context.Background() // in a HandlerFunc, its ctx: the call then carries the request id
	result, err := svc.Call(ctx, "demo", "keystore", "get", map[string]any{"key": "my-key"})
	fmt.Println(result, err)

	_, err = svc.Call(ctx, "nosuch", "keystore", "get", map[string]any{"key": "my-key"})
	var hubErr *servicekit.Error
	if errors.As(err, &hubErr) {
		fmt.Println(hubErr.Status, hubErr.Message)
	}
	// Output:
	// map[value:stored under my-key] <nil>
	// 404 solution nosuch not found
}

func ExampleService_Trigger() {
	hub := exampleHub()
	defer hub.Close()
	svc := newGreeter(hub.URL)
	_ = svc.Register(context.Background())

	// Synchronous: the result of the solution's event handler.
	result, err := svc.Trigger(context.Background(), "demo", "greeted", map[string]any{"name": "ada"}, false)
	fmt.Println(result, err)
	// Asynchronous: the id of the queued event.
	result, err = svc.Trigger(context.Background(), "demo", "greeted", map[string]any{"name": "ada"}, true)
	fmt.Println(result, err)
	// Output:
	// map[handled:greeted] <nil>
	// map[id:evt-42] <nil>
}

// A service serving the hub's calls with a handler of its own checks each call with
// VerifyRequest.
func ExampleService_VerifyRequest() {
	hub := exampleHub()
	defer hub.Close()
	svc := newGreeter(hub.URL)
	_ = svc.Register(context.Background())

	own := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, `{"error":"cannot read the body"}`, http.StatusBadRequest)
			return
		}
		if err := svc.VerifyRequest(r, body); err != nil {
			http.Error(w, `{"error":"not from the hub"}`, http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	})

	// A call signed by the hub with the service's token, and one signed with another token.
	for _, token := range []string{svc.Token(), "guessed-token"} {
		body := `{"name":"ada"}`
		r := httptest.NewRequest("POST", "/greetings/ada", strings.NewReader(body))
		ts := time.Now().Unix()
		r.Header.Set("X-Switchboard-Timestamp", fmt.Sprint(ts))
		r.Header.Set("X-Switchboard-Signature", servicekit.Sign(token, ts, "POST", "/greetings/ada", []byte(body)))
		w := httptest.NewRecorder()
		own.ServeHTTP(w, r)
		fmt.Println(w.Code)
	}
	// Output:
	// 200
	// 401
}

func ExampleSign() {
	body := []byte(`{"service":"keystore","operation":"get","args":"my-key"}`)
	fmt.Println(servicekit.Sign("sbs_example-token", 1760000000, "POST", "/callService?x=1", body))
	// Output:
	// v1=6ecf2afc51358c98c28ab0e9f9e9a12aa7c6db6d40f0dc843b08e183a769250e
}
