package node

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"runnel.dev/e2e/kube/internal/containerinit"
)

// sandbox is a pod's network namespace and its generated /etc files.
type sandbox struct {
	netns string
	ip    net.IP
	etc   map[string]string
}

// podWorker owns one pod on this node: its sandbox, volumes and container processes. All of its
// state is touched only by its own goroutine; the informer, processes and probers send it messages.
type podWorker struct {
	a    *Agent
	uid  types.UID
	dir  string
	wake chan struct{}
	// update carries the newest object from the informer, nil when the pod left the API.
	update chan *v1.Pod
	events chan exitEvent
	probes chan probeEvent
	// done is closed when the worker has returned, so late senders give up.
	done chan struct{}

	pod        *v1.Pod
	gone       bool
	sb         *sandbox
	vols       *volumeSet
	ctrs       map[string]*ctrState
	startTime  metav1.Time
	lastStatus *v1.PodStatus
	volErr     string
	lastVols   time.Time
	terminal   bool
	warned     map[string]bool
}

func newPodWorker(a *Agent, pod *v1.Pod) *podWorker {
	dir := filepath.Join(a.cfg.Dir, "pods", fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
	w := &podWorker{
		a: a, uid: pod.UID, dir: dir,
		update: make(chan *v1.Pod, 16), events: make(chan exitEvent, 64), probes: make(chan probeEvent, 64),
		done: make(chan struct{}),
		pod:  pod, vols: newVolumeSet(filepath.Join(dir, "volumes")), ctrs: map[string]*ctrState{},
		warned: map[string]bool{},
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		w.ctrs[c.Name] = &ctrState{name: c.Name, init: true, image: c.Image}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		w.ctrs[c.Name] = &ctrState{name: c.Name, image: c.Image}
	}
	return w
}

// run is the worker's loop; it returns once the pod is gone from the node.
func (w *podWorker) run(ctx context.Context) {
	defer close(w.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case p := <-w.update:
			if p == nil {
				w.gone = true
			} else {
				w.pod = p
			}
		case ev := <-w.events:
			if st, ok := w.ctrs[ev.container]; ok {
				w.exited(st, ev)
			}
		case ev := <-w.probes:
			w.probeEvent(ev)
		case <-tick.C:
		case <-ctx.Done():
			w.stopAll(2 * time.Second)
			w.teardown()
			return
		}
		if done := w.sync(ctx); done {
			return
		}
	}
}

func (w *podWorker) probeEvent(ev probeEvent) {
	st, ok := w.ctrs[ev.container]
	if !ok || st.running == nil || st.running.n != ev.instance {
		return
	}
	switch ev.kind {
	case "started":
		st.started = true
	case "ready":
		st.ready = true
	case "unready":
		st.ready = false
		w.event(v1.EventTypeWarning, "Unhealthy", "Readiness probe failed: "+ev.message)
	case "liveness", "startup":
		kind := map[string]string{"liveness": "Liveness", "startup": "Startup"}[ev.kind]
		w.event(v1.EventTypeWarning, "Unhealthy", kind+" probe failed: "+ev.message)
		w.event(v1.EventTypeNormal, "Killing", fmt.Sprintf("Container %s failed %s probe, will be restarted", st.name, strings.ToLower(kind)))
		grace := w.grace(nil)
		if pr := w.container(st.name).LivenessProbe; pr != nil && pr.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*pr.TerminationGracePeriodSeconds) * time.Second
		}
		w.kill(st, grace, ev.kind)
		w.drainExit(st)
	}
}

// drainExit applies the exit of a run the worker itself just stopped.
func (w *podWorker) drainExit(st *ctrState) {
	for st.running != nil {
		ev := <-w.events
		if s, ok := w.ctrs[ev.container]; ok {
			w.exited(s, ev)
		}
	}
}

func (w *podWorker) container(name string) *v1.Container {
	for _, list := range [][]v1.Container{w.pod.Spec.InitContainers, w.pod.Spec.Containers} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return &v1.Container{Name: name}
}

func (w *podWorker) grace(override *int64) time.Duration {
	if override != nil {
		return time.Duration(*override) * time.Second
	}
	if g := w.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

// sync moves the pod one step towards its spec and reports status; true when the worker is done.
func (w *podWorker) sync(ctx context.Context) bool {
	pod := w.pod
	if w.gone {
		w.stopAll(0)
		w.teardown()
		return true
	}
	if pod.DeletionTimestamp != nil {
		w.stopAll(w.grace(pod.DeletionGracePeriodSeconds))
		w.teardown()
		w.writeStatus(ctx)
		uid := pod.UID
		zero := int64(0)
		err := w.a.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			klog.Errorf("deleting pod %s/%s: %v", pod.Namespace, pod.Name, err)
			return false
		}
		return true
	}
	if w.terminal {
		return false
	}
	if w.startTime.IsZero() {
		w.startTime = now()
	}
	if w.sb == nil {
		sb, err := w.a.createSandbox(pod, w.dir)
		if err != nil {
			w.warnOnce("FailedCreatePodSandBox", fmt.Sprintf("Failed to create pod sandbox: %v", err))
			w.writeStatus(ctx)
			return false
		}
		w.sb = sb
	}
	if w.volErr != "" || time.Since(w.lastVols) > 5*time.Second {
		w.lastVols = time.Now()
		w.volErr = ""
		if err := w.vols.sync(ctx, w.a.cfg.Client, pod, w.sb.ip.String()); err != nil {
			w.volErr = err.Error()
			w.warnOnce("FailedMount", w.volErr)
			w.writeStatus(ctx)
			return false
		}
	}
	if w.runInitContainers(ctx) {
		for i := range pod.Spec.Containers {
			w.maybeStart(ctx, &pod.Spec.Containers[i], pod.Spec.RestartPolicy)
		}
	}
	status := w.writeStatus(ctx)
	if status != nil && (status.Phase == v1.PodSucceeded || status.Phase == v1.PodFailed) {
		w.terminal = true
		w.stopAll(0)
		w.teardown()
	}
	return false
}

// runInitContainers runs init containers one after another; true once all have succeeded (or,
// for restartable sidecars, started).
func (w *podWorker) runInitContainers(ctx context.Context) bool {
	for i := range w.pod.Spec.InitContainers {
		ctr := &w.pod.Spec.InitContainers[i]
		st := w.ctrs[ctr.Name]
		sidecar := ctr.RestartPolicy != nil && *ctr.RestartPolicy == v1.ContainerRestartPolicyAlways
		if sidecar {
			w.maybeStart(ctx, ctr, v1.RestartPolicyAlways)
			if st.running == nil || !st.started {
				return false
			}
			continue
		}
		if st.lastTerm != nil && st.lastTerm.ExitCode == 0 && st.running == nil {
			continue
		}
		policy := w.pod.Spec.RestartPolicy
		if policy == v1.RestartPolicyAlways {
			policy = v1.RestartPolicyOnFailure
		}
		w.maybeStart(ctx, ctr, policy)
		return false
	}
	return true
}

// maybeStart starts a container that should run and is not running, honouring restart policy
// and back-off, and records why when it cannot.
func (w *podWorker) maybeStart(ctx context.Context, ctr *v1.Container, policy v1.RestartPolicy) {
	st := w.ctrs[ctr.Name]
	if st == nil || st.running != nil {
		return
	}
	if st.lastTerm != nil {
		switch policy {
		case v1.RestartPolicyNever:
			return
		case v1.RestartPolicyOnFailure:
			if st.lastTerm.ExitCode == 0 {
				return
			}
		}
	}
	if time.Now().Before(st.nextStart) {
		if st.everRan {
			st.waitingReason = "CrashLoopBackOff"
			st.waitingMessage = fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)",
				st.backoff/2, ctr.Name, w.pod.Name, w.pod.Namespace, w.pod.UID)
		}
		return
	}
	img, err := w.a.cfg.Images.Resolve(ctr.Image)
	if err != nil {
		if st.waitingReason == "ErrImagePull" || st.waitingReason == "ImagePullBackOff" {
			st.waitingReason = "ImagePullBackOff"
		} else {
			st.waitingReason = "ErrImagePull"
		}
		st.waitingMessage = err.Error()
		w.warnOnce("Failed", fmt.Sprintf("Failed to pull image %q: %v", ctr.Image, err))
		st.nextStart = time.Now().Add(w.a.cfg.RestartBackoff)
		return
	}
	env, vars, err := containerEnv(ctx, w.a.cfg.Client, w.pod, ctr, w.sb.ip.String(), w.a.cfg.IP.String())
	if err == nil {
		var mounts = w.mountsFor(ctr)
		if mounts.err != nil {
			err = mounts.err
		} else {
			argv := img.Argv(expandAll(ctr.Command, vars), expandAll(ctr.Args, vars))
			if st.everRan {
				st.restartCount++
			}
			w.event(v1.EventTypeNormal, "Pulled", fmt.Sprintf("Container image %q already present on machine", ctr.Image))
			w.event(v1.EventTypeNormal, "Created", "Created container "+ctr.Name)
			if err = w.launch(ctx, w.pod, ctr, st, argv, env, mounts.list); err == nil {
				w.event(v1.EventTypeNormal, "Started", "Started container "+ctr.Name)
				return
			}
		}
	}
	var cfgErr *configError
	if errors.As(err, &cfgErr) {
		st.waitingReason = "CreateContainerConfigError"
	} else {
		st.waitingReason = "CreateContainerError"
	}
	st.waitingMessage = err.Error()
	w.warnOnce("Failed", "Error: "+err.Error())
	st.nextStart = time.Now().Add(2 * time.Second)
}

type mountList struct {
	list []containerinit.Mount
	err  error
}

func (w *podWorker) mountsFor(ctr *v1.Container) mountList {
	list, err := w.vols.mounts(ctr, w.sb.etc)
	return mountList{list: list, err: err}
}

func expandAll(in []string, vars map[string]string) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expand(s, vars)
	}
	return out
}

// stopAll stops every running container at once and waits for them.
func (w *podWorker) stopAll(grace time.Duration) {
	done := make(chan struct{})
	n := 0
	for _, st := range w.ctrs {
		if st.running != nil {
			n++
			go func(st *ctrState) {
				w.kill(st, grace, "stopping")
				done <- struct{}{}
			}(st)
		}
	}
	for i := 0; i < n; i++ {
		<-done
	}
	for _, st := range w.ctrs {
		w.drainExit(st)
	}
}

// send delivers an update unless the worker has finished.
func (w *podWorker) send(p *v1.Pod) {
	select {
	case w.update <- p:
	case <-w.done:
	}
}

func (w *podWorker) teardown() {
	if w.sb == nil || w.sb.netns == "" {
		return
	}
	if !w.pod.Spec.HostNetwork {
		if err := w.a.cfg.Net.DeletePodNetns(w.sb.netns); err != nil {
			klog.Errorf("removing network namespace of %s/%s: %v", w.pod.Namespace, w.pod.Name, err)
		}
		w.a.ipam.release(w.sb.ip)
	}
	w.sb.netns = ""
}

func (w *podWorker) event(kind, reason, msg string) {
	w.a.recorder.Event(w.pod, kind, reason, msg)
}

// warnOnce records a warning Event the first time a message is seen, as the kubelet's repeated
// events collapse into one.
func (w *podWorker) warnOnce(reason, msg string) {
	key := reason + "\x00" + msg
	if w.warned[key] {
		return
	}
	w.warned[key] = true
	w.event(v1.EventTypeWarning, reason, msg)
}

func podHostname(pod *v1.Pod) string {
	if pod.Spec.Hostname != "" {
		return pod.Spec.Hostname
	}
	name := pod.Name
	if len(name) > 63 {
		name = strings.TrimRight(name[:63], "-.")
	}
	return name
}

// writeStatus computes the pod status and writes it when it changed.
func (w *podWorker) writeStatus(ctx context.Context) *v1.PodStatus {
	status := w.status()
	if w.lastStatus != nil && equality.Semantic.DeepEqual(status, w.lastStatus) {
		return status
	}
	pods := w.a.cfg.Client.CoreV1().Pods(w.pod.Namespace)
	for attempt := 0; attempt < 3; attempt++ {
		cur := w.pod.DeepCopy()
		cur.Status = *status
		updated, err := pods.UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		if err == nil {
			w.pod = updated
			w.lastStatus = status
			return status
		}
		if !apierrors.IsConflict(err) {
			if !apierrors.IsNotFound(err) {
				klog.Errorf("updating status of %s/%s: %v", w.pod.Namespace, w.pod.Name, err)
			}
			return status
		}
		fresh, err := pods.Get(ctx, w.pod.Name, metav1.GetOptions{})
		if err != nil || fresh.UID != w.uid {
			return status
		}
		w.pod = fresh
		status = w.status()
	}
	return status
}
