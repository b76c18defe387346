package node

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/klog/v2"
)

// serve starts the part of the kubelet API that `kubectl logs` needs, on the node's own address
// and with client certificates from the cluster CA (the API server's kubelet client).
func (a *Agent) serve() (*http.Server, error) {
	caPEM, err := os.ReadFile(a.cfg.ClientCA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", a.containerLogs)
	srv := &http.Server{
		Handler:           mux,
		TLSConfig:         &tls.Config{ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12},
		ReadHeaderTimeout: 10 * time.Second,
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(a.cfg.IP.String(), strconv.Itoa(a.cfg.KubeletPort)))
	if err != nil {
		return nil, fmt.Errorf("node %s API: %w", a.cfg.Name, err)
	}
	go func() {
		if err := srv.ServeTLS(ln, a.cfg.ServingCert, a.cfg.ServingKey); err != nil && err != http.ErrServerClosed {
			klog.Errorf("node %s API: %v", a.cfg.Name, err)
		}
	}()
	return srv, nil
}

// containerLogs serves a container's output with the kubelet's query options: previous,
// tailLines, limitBytes, timestamps (accepted; lines carry none) and follow.
func (a *Agent) containerLogs(w http.ResponseWriter, r *http.Request) {
	ns, pod, ctr := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	dirs, _ := filepath.Glob(filepath.Join(a.cfg.Dir, "pods", fmt.Sprintf("%s_%s_*", ns, pod)))
	if len(dirs) == 0 {
		http.Error(w, fmt.Sprintf("pod %s/%s not found on node %s", ns, pod, a.cfg.Name), http.StatusNotFound)
		return
	}
	sort.Slice(dirs, func(i, j int) bool { return modTime(dirs[i]).Before(modTime(dirs[j])) })
	logs, _ := filepath.Glob(filepath.Join(dirs[len(dirs)-1], "logs", ctr, "*.log"))
	sort.Slice(logs, func(i, j int) bool { return logIndex(logs[i]) < logIndex(logs[j]) })
	q := r.URL.Query()
	if q.Get("previous") == "true" {
		if len(logs) < 2 {
			http.Error(w, fmt.Sprintf("previous terminated container %q in pod %q not found", ctr, pod), http.StatusBadRequest)
			return
		}
		logs = logs[:len(logs)-1]
	}
	if len(logs) == 0 {
		http.Error(w, fmt.Sprintf("container %q in pod %q is waiting to start", ctr, pod), http.StatusBadRequest)
		return
	}
	path := logs[len(logs)-1]
	content, err := os.ReadFile(path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if n, err := strconv.Atoi(q.Get("tailLines")); err == nil && n >= 0 {
		lines := strings.SplitAfter(string(content), "\n")
		if len(lines) > 0 && lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		content = []byte(strings.Join(lines[max(0, len(lines)-n):], ""))
	}
	if n, err := strconv.Atoi(q.Get("limitBytes")); err == nil && n >= 0 && n < len(content) {
		content = content[:n]
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(content)
	if q.Get("follow") != "true" {
		return
	}
	a.follow(w, r, path, int64(len(content)))
}

// follow streams what is appended to a log until the client leaves or the run ends.
func (a *Agent) follow(w http.ResponseWriter, r *http.Request, path string, _ int64) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return
	}
	flusher, _ := w.(http.Flusher)
	reader := bufio.NewReader(f)
	dir := filepath.Dir(path)
	for {
		line, err := reader.ReadString('\n')
		if line != "" {
			_, _ = io.WriteString(w, line)
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err == nil {
			continue
		}
		// A newer log file means this run ended.
		if logs, _ := filepath.Glob(filepath.Join(dir, "*.log")); len(logs) > 0 && logIndex(logs[len(logs)-1]) > logIndex(path) {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func modTime(path string) time.Time {
	info, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return info.ModTime()
}

func logIndex(path string) int {
	n, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(path), ".log"))
	return n
}
