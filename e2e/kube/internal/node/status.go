package node

import (
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// status derives the pod status from the node's view, keeping conditions others own (PodScheduled,
// readiness gates).
func (w *podWorker) status() *v1.PodStatus {
	pod := w.pod
	s := pod.Status.DeepCopy()
	s.HostIP = w.a.cfg.IP.String()
	s.HostIPs = []v1.HostIP{{IP: s.HostIP}}
	if w.sb != nil {
		s.PodIP = w.sb.ip.String()
		s.PodIPs = []v1.PodIP{{IP: s.PodIP}}
	}
	if !w.startTime.IsZero() {
		st := w.startTime
		s.StartTime = &st
	}
	s.InitContainerStatuses = w.containerStatuses(pod.Spec.InitContainers)
	s.ContainerStatuses = w.containerStatuses(pod.Spec.Containers)
	initialized := w.initialized()
	s.Phase = w.phase(initialized)
	s.Reason, s.Message = "", ""

	allReady := len(pod.Spec.Containers) > 0
	for _, cs := range s.ContainerStatuses {
		allReady = allReady && cs.Ready
	}
	gatesOK := true
	for _, g := range pod.Spec.ReadinessGates {
		c := findCondition(s.Conditions, g.ConditionType)
		gatesOK = gatesOK && c != nil && c.Status == v1.ConditionTrue
	}
	running := s.Phase == v1.PodRunning
	setCondition(s, v1.PodReadyToStartContainers, w.sb != nil && w.sb.netns != "" || pod.Spec.HostNetwork && w.sb != nil, "")
	setCondition(s, v1.PodInitialized, initialized, "ContainersNotInitialized")
	setCondition(s, v1.ContainersReady, allReady && running, "ContainersNotReady")
	setCondition(s, v1.PodReady, allReady && running && gatesOK, "ContainersNotReady")
	if s.Phase == v1.PodSucceeded || s.Phase == v1.PodFailed {
		setCondition(s, v1.ContainersReady, false, "PodCompleted")
		setCondition(s, v1.PodReady, false, "PodCompleted")
	}
	return s
}

func (w *podWorker) containerStatuses(ctrs []v1.Container) []v1.ContainerStatus {
	out := make([]v1.ContainerStatus, 0, len(ctrs))
	for i := range ctrs {
		ctr := &ctrs[i]
		st := w.ctrs[ctr.Name]
		if st == nil {
			continue
		}
		cs := v1.ContainerStatus{
			Name:         ctr.Name,
			Image:        ctr.Image,
			ImageID:      "",
			RestartCount: st.restartCount,
			Ready:        st.ready && st.running != nil,
		}
		if img, err := w.a.cfg.Images.Resolve(ctr.Image); err == nil {
			cs.ImageID = "local://" + img.Entrypoint
		}
		started := st.running != nil && st.started
		cs.Started = &started
		switch {
		case st.running != nil:
			cs.State.Running = &v1.ContainerStateRunning{StartedAt: st.running.startedAt}
			cs.ContainerID = st.containerID(st.running.n)
			if st.lastTerm != nil {
				cs.LastTerminationState.Terminated = st.lastTerm
			}
		case st.waitingReason != "" || st.lastTerm == nil || w.restarts(ctr, st):
			reason, msg := st.waitingReason, st.waitingMessage
			if reason == "" {
				reason = "ContainerCreating"
				if w.volErr != "" {
					msg = w.volErr
				}
			}
			cs.State.Waiting = &v1.ContainerStateWaiting{Reason: reason, Message: msg}
			if st.lastTerm != nil {
				cs.LastTerminationState.Terminated = st.lastTerm
				cs.ContainerID = st.lastTerm.ContainerID
			}
		default:
			cs.State.Terminated = st.lastTerm
			cs.ContainerID = st.lastTerm.ContainerID
			if st.prevTerm != nil {
				cs.LastTerminationState.Terminated = st.prevTerm
			}
		}
		out = append(out, cs)
	}
	return out
}

// restarts says whether a terminated container will run again under the pod's restart policy.
func (w *podWorker) restarts(ctr *v1.Container, st *ctrState) bool {
	if st.lastTerm == nil {
		return true
	}
	policy := w.pod.Spec.RestartPolicy
	if ctr.RestartPolicy != nil {
		return *ctr.RestartPolicy == v1.ContainerRestartPolicyAlways
	}
	if st.init && policy == v1.RestartPolicyAlways {
		policy = v1.RestartPolicyOnFailure
	}
	switch policy {
	case v1.RestartPolicyAlways:
		return true
	case v1.RestartPolicyOnFailure:
		return st.lastTerm.ExitCode != 0
	}
	return false
}

func (w *podWorker) initialized() bool {
	for i := range w.pod.Spec.InitContainers {
		ctr := &w.pod.Spec.InitContainers[i]
		st := w.ctrs[ctr.Name]
		if ctr.RestartPolicy != nil && *ctr.RestartPolicy == v1.ContainerRestartPolicyAlways {
			if st.running == nil || !st.started {
				return false
			}
			continue
		}
		if st.lastTerm == nil || st.lastTerm.ExitCode != 0 || st.running != nil {
			return false
		}
	}
	return true
}

// phase follows the kubelet: Pending until every container has run, Running while any runs or will
// restart, then Succeeded or Failed.
func (w *podWorker) phase(initialized bool) v1.PodPhase {
	pod := w.pod
	if !initialized {
		for i := range pod.Spec.InitContainers {
			ctr := &pod.Spec.InitContainers[i]
			st := w.ctrs[ctr.Name]
			if st.running == nil && st.lastTerm != nil && st.lastTerm.ExitCode != 0 && !w.restarts(ctr, st) {
				return v1.PodFailed
			}
		}
		return v1.PodPending
	}
	running, restarting, failed, unstarted := 0, 0, 0, 0
	for i := range pod.Spec.Containers {
		ctr := &pod.Spec.Containers[i]
		st := w.ctrs[ctr.Name]
		switch {
		case st.running != nil:
			running++
		case st.lastTerm == nil:
			unstarted++
		case w.restarts(ctr, st):
			restarting++
		case st.lastTerm.ExitCode != 0:
			failed++
		}
	}
	switch {
	case unstarted > 0:
		return v1.PodPending
	case running > 0 || restarting > 0:
		return v1.PodRunning
	case failed > 0:
		return v1.PodFailed
	}
	return v1.PodSucceeded
}

func findCondition(conds []v1.PodCondition, t v1.PodConditionType) *v1.PodCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// setCondition sets a condition, keeping its transition time when its status did not change.
func setCondition(s *v1.PodStatus, t v1.PodConditionType, ok bool, falseReason string) {
	status, reason := v1.ConditionTrue, ""
	if !ok {
		status, reason = v1.ConditionFalse, falseReason
	}
	if c := findCondition(s.Conditions, t); c != nil {
		if c.Status != status {
			c.LastTransitionTime = now()
		}
		c.Status, c.Reason = status, reason
		return
	}
	s.Conditions = append(s.Conditions, v1.PodCondition{Type: t, Status: status, Reason: reason, LastTransitionTime: now()})
}

// now is the current time at the API's one-second precision, so statuses compare equal after a
// round trip through the API server.
func now() metav1.Time { return metav1.NewTime(time.Now().Truncate(time.Second)) }
