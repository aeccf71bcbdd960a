// Command testapp is the workload of the runtime driver conformance suite
// (internal/runtime/drivertest). It is built as a static binary and shipped
// in a FROM scratch image whose ENTRYPOINT is /app.
//
// Unless its first argument is "task", it is a web service on $PORT
// (default 8080):
//
//	GET /healthz       200, or $TESTAPP_HEALTH_STATUS
//	GET /env           the process environment as a JSON object
//	GET /call?url=U    fetches U and relays its status and body (502 on error)
//	GET /log?msg=M     prints M on stdout
//	GET /exit?code=N   exits with N (default $TESTAPP_EXIT_CODE, else 0)
//	GET /args          its command line (os.Args) as a JSON list
//
// TESTAPP_MODE=crash makes it print a message on stderr and exit at once with
// $TESTAPP_EXIT_CODE (default 3).
//
// With the arguments "task [flags]" it is a one-off task: see taskMain.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "task" {
		os.Exit(taskMain(os.Args[2:]))
	}
	os.Exit(webMain())
}

// taskMain prints what its flags ask for, sleeps, and returns the exit code.
func taskMain(args []string) int {
	fs := flag.NewFlagSet("task", flag.ContinueOnError)
	exit := fs.Int("exit", 0, "exit code")
	say := fs.String("say", "", "line printed on stdout first")
	env := fs.String("env", "", "name of an env var printed as NAME=value")
	lines := fs.Int("lines", 0, "number of numbered lines printed on stdout")
	sleep := fs.Duration("sleep", 0, "time to sleep before exiting")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *say != "" {
		fmt.Println(*say)
	}
	if *env != "" {
		fmt.Printf("%s=%s\n", *env, os.Getenv(*env))
	}
	for i := 1; i <= *lines; i++ {
		fmt.Printf("line %06d\n", i)
	}
	time.Sleep(*sleep)
	fmt.Fprintf(os.Stderr, "task: exiting with code %d\n", *exit)
	return *exit
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return n
	}
	return def
}

func webMain() int {
	if os.Getenv("TESTAPP_MODE") == "crash" {
		code := envInt("TESTAPP_EXIT_CODE", 3)
		fmt.Fprintf(os.Stderr, "testapp: crashing on purpose with code %d\n", code)
		return code
	}
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	health := envInt("TESTAPP_HEALTH_STATUS", http.StatusOK)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(health)
		fmt.Fprintln(w, http.StatusText(health))
	})
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, r *http.Request) {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(env)
	})
	client := &http.Client{Timeout: 5 * time.Second}
	mux.HandleFunc("GET /call", func(w http.ResponseWriter, r *http.Request) {
		resp, err := client.Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})
	mux.HandleFunc("GET /log", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.URL.Query().Get("msg"))
	})
	mux.HandleFunc("GET /args", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(os.Args)
	})
	mux.HandleFunc("GET /exit", func(w http.ResponseWriter, r *http.Request) {
		code := envInt("TESTAPP_EXIT_CODE", 0)
		if n, err := strconv.Atoi(r.URL.Query().Get("code")); err == nil {
			code = n
		}
		fmt.Fprintf(os.Stderr, "testapp: exiting with code %d as asked\n", code)
		os.Exit(code)
	})

	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	fmt.Printf("testapp: listening on :%s\n", port)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintf(os.Stderr, "testapp: %v\n", err)
		return 1
	}
	fmt.Println("testapp: stopped")
	return 0
}
