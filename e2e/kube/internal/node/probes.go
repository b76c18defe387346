package node

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// probeEvent reports a probe outcome that changes a container's state.
type probeEvent struct {
	container string
	instance  int
	kind      string // "started", "ready", "unready", "liveness", "startup"
	message   string
}

// prober runs one container instance's startup, liveness and readiness probes with the kubelet's
// timing rules (initial delay, period, timeout, success and failure thresholds).
type prober struct {
	ctr      *v1.Container
	podIP    string
	pid      int
	instance int
	events   chan<- probeEvent
}

func (p *prober) run(ctx context.Context) {
	send := func(kind, msg string) {
		select {
		case p.events <- probeEvent{container: p.ctr.Name, instance: p.instance, kind: kind, message: msg}:
		case <-ctx.Done():
		}
	}
	if sp := p.ctr.StartupProbe; sp != nil {
		ok, msg := p.loop(ctx, sp, true)
		if !ok {
			if ctx.Err() == nil {
				send("startup", msg)
			}
			return
		}
	}
	send("started", "")
	if rp := p.ctr.ReadinessProbe; rp != nil {
		go p.readiness(ctx, rp, send)
	} else {
		send("ready", "")
	}
	if lp := p.ctr.LivenessProbe; lp != nil {
		if ok, msg := p.loop(ctx, lp, false); !ok && ctx.Err() == nil {
			send("liveness", msg)
		}
	}
}

// loop probes until the failure threshold is reached (false) or, when untilSuccess, until the
// success threshold is reached (true).
func (p *prober) loop(ctx context.Context, pr *v1.Probe, untilSuccess bool) (bool, string) {
	if !sleep(ctx, time.Duration(pr.InitialDelaySeconds)*time.Second) {
		return false, ""
	}
	failures, successes := 0, 0
	for {
		ok, msg := p.probe(ctx, pr)
		if ok {
			failures = 0
			successes++
			if untilSuccess && successes >= threshold(pr.SuccessThreshold) {
				return true, ""
			}
		} else {
			successes = 0
			failures++
			if failures >= threshold(pr.FailureThreshold, 3) {
				return false, msg
			}
		}
		if !sleep(ctx, period(pr)) {
			return false, ""
		}
	}
}

func (p *prober) readiness(ctx context.Context, pr *v1.Probe, send func(kind, msg string)) {
	if !sleep(ctx, time.Duration(pr.InitialDelaySeconds)*time.Second) {
		return
	}
	ready, failures, successes := false, 0, 0
	for {
		ok, msg := p.probe(ctx, pr)
		if ok {
			failures = 0
			successes++
			if !ready && successes >= threshold(pr.SuccessThreshold) {
				ready = true
				send("ready", "")
			}
		} else {
			successes = 0
			failures++
			if (ready || failures == 1) && failures >= threshold(pr.FailureThreshold, 3) {
				ready = false
				send("unready", msg)
			}
		}
		if !sleep(ctx, period(pr)) {
			return
		}
	}
}

func threshold(v int32, def ...int32) int {
	if v > 0 {
		return int(v)
	}
	if len(def) > 0 {
		return int(def[0])
	}
	return 1
}

func period(pr *v1.Probe) time.Duration {
	if pr.PeriodSeconds > 0 {
		return time.Duration(pr.PeriodSeconds) * time.Second
	}
	return 10 * time.Second
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// probe runs one check and says why it failed.
func (p *prober) probe(ctx context.Context, pr *v1.Probe) (bool, string) {
	timeout := time.Second
	if pr.TimeoutSeconds > 0 {
		timeout = time.Duration(pr.TimeoutSeconds) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	h := pr.ProbeHandler
	switch {
	case h.HTTPGet != nil:
		return p.httpProbe(ctx, h.HTTPGet)
	case h.TCPSocket != nil:
		port, err := p.port(h.TCPSocket.Port)
		if err != nil {
			return false, err.Error()
		}
		host := h.TCPSocket.Host
		if host == "" {
			host = p.podIP
		}
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false, fmt.Sprintf("TCP probe failed: %v", err)
		}
		conn.Close()
		return true, ""
	case h.Exec != nil:
		args := append([]string{"--target", strconv.Itoa(p.pid), "--net", "--mount", "--uts", "--"}, h.Exec.Command...)
		out, err := exec.CommandContext(ctx, "nsenter", args...).CombinedOutput()
		if err != nil {
			return false, fmt.Sprintf("exec probe %v failed: %v: %s", h.Exec.Command, err, strings.TrimSpace(string(out)))
		}
		return true, ""
	case h.GRPC != nil:
		conn, err := grpc.NewClient(net.JoinHostPort(p.podIP, strconv.Itoa(int(h.GRPC.Port))), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return false, err.Error()
		}
		defer conn.Close()
		service := ""
		if h.GRPC.Service != nil {
			service = *h.GRPC.Service
		}
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			return false, fmt.Sprintf("gRPC probe failed: %v", err)
		}
		if resp.Status != healthpb.HealthCheckResponse_SERVING {
			return false, fmt.Sprintf("gRPC probe: service status %s", resp.Status)
		}
		return true, ""
	}
	return false, "probe has no handler"
}

func (p *prober) httpProbe(ctx context.Context, g *v1.HTTPGetAction) (bool, string) {
	port, err := p.port(g.Port)
	if err != nil {
		return false, err.Error()
	}
	host := g.Host
	if host == "" {
		host = p.podIP
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	for _, h := range g.HTTPHeaders {
		req.Header.Add(h.Name, h.Value)
	}
	req.Header.Set("User-Agent", "kube-probe/1.37")
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Sprintf("HTTP probe failed: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	}
	return true, ""
}

// port resolves a numeric or named container port.
func (p *prober) port(v intstr.IntOrString) (int, error) {
	if v.Type == intstr.Int {
		return v.IntValue(), nil
	}
	for _, cp := range p.ctr.Ports {
		if cp.Name == v.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %q", p.ctr.Name, v.StrVal)
}
