package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"runnel.dev/e2e/kube/internal/containerinit"
	"runnel.dev/e2e/kube/internal/netsetup"
	"runnel.dev/e2e/kube/internal/proc"
)

// ctrState is what the node knows of one container of a pod across its restarts.
type ctrState struct {
	name  string
	init  bool
	image string

	restartCount int32
	everRan      bool
	running      *instance
	// waiting is set while the container is not running and has a reason to report.
	waitingReason, waitingMessage string
	lastTerm                      *v1.ContainerStateTerminated
	prevTerm                      *v1.ContainerStateTerminated
	ready, started                bool

	nextStart time.Time
	backoff   time.Duration
}

// instance is one run of a container's process.
type instance struct {
	n          int
	pid        int
	exited     chan struct{}
	startedAt  metav1.Time
	stopProbes context.CancelFunc
	errorFile  string
	logPath    string
	// killReason, when set, is why the node stopped this run (e.g. a failed liveness probe).
	killReason string
}

// exitEvent reports that a container's process ended.
type exitEvent struct {
	container string
	instance  int
	code      int32
	signal    string
}

func (s *ctrState) containerID(n int) string {
	return fmt.Sprintf("process://%s-%d", s.name, n)
}

// launch starts one run of a container inside the pod's namespaces.
func (w *podWorker) launch(ctx context.Context, pod *v1.Pod, ctr *v1.Container, st *ctrState, argv, env []string, mounts []containerinit.Mount) error {
	n := int(st.restartCount)
	dir := filepath.Join(w.dir, "containers", ctr.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	logDir := filepath.Join(w.dir, "logs", ctr.Name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	spec := containerinit.Spec{
		Argv: argv, Env: env, Dir: ctr.WorkingDir, Hostname: podHostname(pod), Mounts: mounts,
		ErrorFile: filepath.Join(dir, fmt.Sprintf("start-error-%d", n)),
	}
	_ = os.Remove(spec.ErrorFile)
	raw, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	specPath := filepath.Join(dir, fmt.Sprintf("spec-%d.json", n))
	if err := os.WriteFile(specPath, raw, 0o600); err != nil {
		return err
	}
	if err := writeResources(filepath.Join(dir, "resources.json"), ctr); err != nil {
		return err
	}
	args := []string{"--mount", "--uts", "--propagation", "private"}
	if !pod.Spec.HostNetwork {
		args = append(args, "nsenter", "--net="+netsetup.NetnsPath(w.sb.netns))
	}
	args = append(args, w.a.cfg.Self, "container-init", specPath)
	cmd := exec.Command("unshare", args...)
	logPath := filepath.Join(logDir, fmt.Sprintf("%d.log", n))
	logFile, err := proc.StartLogged(cmd, logPath)
	if err != nil {
		return err
	}
	inst := &instance{n: n, pid: cmd.Process.Pid, exited: make(chan struct{}), startedAt: now(), errorFile: spec.ErrorFile, logPath: logPath}
	st.running = inst
	st.everRan = true
	st.waitingReason, st.waitingMessage = "", ""
	st.ready, st.started = false, false
	go func() {
		err := cmd.Wait()
		logFile.Close()
		ev := exitEvent{container: ctr.Name, instance: n}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			ws := exitErr.Sys().(syscall.WaitStatus)
			if ws.Signaled() {
				ev.code = 128 + int32(ws.Signal())
				ev.signal = ws.Signal().String()
			} else {
				ev.code = int32(ws.ExitStatus())
			}
		} else if err != nil {
			ev.code = 128
		}
		close(inst.exited)
		select {
		case w.events <- ev:
		case <-w.done:
		}
	}()
	probeCtx, cancel := context.WithCancel(ctx)
	inst.stopProbes = cancel
	p := &prober{ctr: ctr, podIP: w.sb.ip.String(), pid: inst.pid, instance: n, events: w.probes}
	go p.run(probeCtx)
	return nil
}

// writeResources records the container's requests and limits next to its logs; processes are not
// confined by them on this node.
func writeResources(path string, ctr *v1.Container) error {
	raw, err := json.MarshalIndent(ctr.Resources, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o644)
}

// exited records a finished run and schedules the next one with the kubelet's doubling back-off.
func (w *podWorker) exited(st *ctrState, ev exitEvent) {
	inst := st.running
	if inst == nil || inst.n != ev.instance {
		return
	}
	inst.stopProbes()
	term := &v1.ContainerStateTerminated{
		ExitCode:    ev.code,
		StartedAt:   inst.startedAt,
		FinishedAt:  now(),
		ContainerID: st.containerID(inst.n),
		Reason:      "Completed",
	}
	if ev.code != 0 {
		term.Reason = "Error"
	}
	if msg, err := os.ReadFile(inst.errorFile); err == nil {
		term.Reason, term.Message = "StartError", string(msg)
	}
	if ev.signal != "" {
		term.Signal = int32(ev.code - 128)
	}
	st.prevTerm = st.lastTerm
	st.lastTerm = term
	st.running = nil
	st.ready, st.started = false, false
	if time.Since(inst.startedAt.Time) > 10*time.Minute {
		st.backoff = 0
	}
	now := time.Now()
	if st.backoff == 0 {
		st.nextStart = now
		st.backoff = w.a.cfg.RestartBackoff
	} else {
		st.nextStart = now.Add(st.backoff)
		st.backoff = min(2*st.backoff, 5*time.Minute)
	}
	if inst.killReason == "" && ev.code != 0 {
		w.event(v1.EventTypeWarning, "BackOff", fmt.Sprintf("Container %s exited with code %d", st.name, ev.code))
	}
}

// kill stops a running container: SIGTERM, then SIGKILL after the grace period.
func (w *podWorker) kill(st *ctrState, grace time.Duration, reason string) {
	inst := st.running
	if inst == nil {
		return
	}
	inst.killReason = reason
	inst.stopProbes()
	w.event(v1.EventTypeNormal, "Killing", fmt.Sprintf("Stopping container %s", st.name))
	proc.Terminate(inst.pid, inst.exited, grace)
}
