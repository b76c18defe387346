// Package httpd is a small HTTP server run as a pod by the end-to-end tests: it tells who it is,
// shows its environment and files, fetches URLs and resolves names from inside the pod, and can
// turn unhealthy on request to exercise liveness probes.
package httpd

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Main runs `runnel-kube httpd`.
func Main(args []string) int {
	fs := flag.NewFlagSet("httpd", flag.ContinueOnError)
	addr := fs.String("listen", ":8080", "address to listen on")
	failAfter := fs.Duration("fail-health-after", 0, "answer /healthz with 500 after this long (0: never)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	started := time.Now()
	var forcedUnhealthy atomic.Bool
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s\n", host)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if forcedUnhealthy.Load() || (*failAfter > 0 && time.Since(started) > *failAfter) {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/unhealthy", func(w http.ResponseWriter, r *http.Request) {
		forcedUnhealthy.Store(true)
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		v, ok := os.LookupEnv(r.URL.Query().Get("name"))
		if !ok {
			http.Error(w, "not set", http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, v)
	})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/fetch", func(w http.ResponseWriter, r *http.Request) {
		client := &http.Client{Timeout: 5 * time.Second}
		resp, err := client.Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	})
	mux.HandleFunc("/resolve", func(w http.ResponseWriter, r *http.Request) {
		ips, err := net.DefaultResolver.LookupHost(r.Context(), r.URL.Query().Get("name"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, strings.Join(ips, "\n"))
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		log.Printf("httpd: terminating")
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Printf("httpd: listening on %s as %s", *addr, host)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		log.Printf("httpd: %v", err)
		return 1
	}
	return 0
}
