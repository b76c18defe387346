// Package node is the kubelet stand-in: for each fake node it registers a Node with capacity and a
// Ready condition, renews its Lease, and runs the containers of pods bound to it as local processes
// in a per-pod network namespace (mount and UTS namespaces per container), reporting pod status,
// Events and logs the way the kubelet does.
package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	coordv1 "k8s.io/api/coordination/v1"
	v1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedv1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"

	"runnel.dev/e2e/kube/internal/netsetup"
)

// Config describes one fake node.
type Config struct {
	Name   string
	Index  int
	IP     net.IP
	Net    *netsetup.Network
	Client kubernetes.Interface
	// Dir holds this node's pod folders: volumes, container specs and logs.
	Dir    string
	Images Images
	// Self is the runnel-kube binary, run as `container-init` in front of every container.
	Self           string
	RestartBackoff time.Duration
	// KubeletPort, ServingCert, ServingKey and ClientCA configure the log API the API server calls.
	KubeletPort             int
	ServingCert, ServingKey string
	ClientCA                string
}

// Agent runs one node.
type Agent struct {
	cfg      Config
	ipam     *ipam
	recorder record.EventRecorder

	mu      sync.Mutex
	workers map[types.UID]*podWorker
	wg      sync.WaitGroup
}

// New prepares a node agent.
func New(cfg Config) *Agent {
	return &Agent{cfg: cfg, ipam: newIPAM(cfg.Net.PodSubnet(cfg.Index)), workers: map[types.UID]*podWorker{}}
}

// nodeCapacity is what every fake node offers the scheduler; processes are not confined to it.
func nodeCapacity() v1.ResourceList {
	return v1.ResourceList{
		v1.ResourceCPU:              resource.MustParse("32"),
		v1.ResourceMemory:           resource.MustParse("64Gi"),
		v1.ResourcePods:             resource.MustParse("110"),
		v1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
}

// Run registers the node, serves its pods until ctx ends, then stops every container.
func (a *Agent) Run(ctx context.Context) error {
	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedv1.EventSinkImpl{Interface: a.cfg.Client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	a.recorder = broadcaster.NewRecorder(scheme.Scheme, v1.EventSource{Component: "kubelet", Host: a.cfg.Name})

	if err := a.register(ctx); err != nil {
		return fmt.Errorf("registering node %s: %w", a.cfg.Name, err)
	}
	srv, err := a.serve()
	if err != nil {
		return err
	}
	defer srv.Close()
	go a.heartbeat(ctx)

	factory := informers.NewSharedInformerFactoryWithOptions(a.cfg.Client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.cfg.Name).String()
		}))
	inf := factory.Core().V1().Pods().Informer()
	_, err = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.dispatch(ctx, obj.(*v1.Pod)) },
		UpdateFunc: func(_, obj any) { a.dispatch(ctx, obj.(*v1.Pod)) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*v1.Pod); ok {
				a.forget(pod.UID)
			}
		},
	})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
	a.wg.Wait()
	return nil
}

func (a *Agent) dispatch(ctx context.Context, pod *v1.Pod) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w, ok := a.workers[pod.UID]
	if !ok {
		if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
			return
		}
		w = newPodWorker(a, pod.DeepCopy())
		a.workers[pod.UID] = w
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			w.run(ctx)
			a.mu.Lock()
			delete(a.workers, pod.UID)
			a.mu.Unlock()
		}()
		return
	}
	update := pod.DeepCopy()
	select {
	case w.update <- update:
	default:
		// The worker is busy (stopping containers); deliver when it is ready.
		go w.send(update)
	}
}

func (a *Agent) forget(uid types.UID) {
	a.mu.Lock()
	w, ok := a.workers[uid]
	a.mu.Unlock()
	if ok {
		go w.send(nil)
	}
}

func (a *Agent) register(ctx context.Context) error {
	nodes := a.cfg.Client.CoreV1().Nodes()
	node := &v1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: a.cfg.Name, Labels: map[string]string{
			"kubernetes.io/hostname": a.cfg.Name,
			"kubernetes.io/os":       "linux",
			"kubernetes.io/arch":     runtime.GOARCH,
			"runnel.dev/e2e-node":    "true",
		}},
		Spec: v1.NodeSpec{PodCIDR: a.cfg.Net.PodSubnet(a.cfg.Index).String(), PodCIDRs: []string{a.cfg.Net.PodSubnet(a.cfg.Index).String()}},
	}
	created, err := nodes.Create(ctx, node, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		created, err = nodes.Get(ctx, a.cfg.Name, metav1.GetOptions{})
	}
	if err != nil {
		return err
	}
	return a.updateNodeStatus(ctx, created)
}

func (a *Agent) updateNodeStatus(ctx context.Context, node *v1.Node) error {
	t := now()
	node = node.DeepCopy()
	cond := func(typ v1.NodeConditionType, status v1.ConditionStatus, reason, msg string) v1.NodeCondition {
		c := v1.NodeCondition{Type: typ, Status: status, Reason: reason, Message: msg, LastHeartbeatTime: t, LastTransitionTime: t}
		for _, old := range node.Status.Conditions {
			if old.Type == typ && old.Status == status {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		return c
	}
	node.Status.Capacity = nodeCapacity()
	node.Status.Allocatable = nodeCapacity()
	node.Status.Conditions = []v1.NodeCondition{
		cond(v1.NodeMemoryPressure, v1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		cond(v1.NodeDiskPressure, v1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		cond(v1.NodePIDPressure, v1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		cond(v1.NodeReady, v1.ConditionTrue, "KubeletReady", "runnel-e2e node agent is posting ready status"),
	}
	node.Status.Addresses = []v1.NodeAddress{{Type: v1.NodeInternalIP, Address: a.cfg.IP.String()}, {Type: v1.NodeHostName, Address: a.cfg.Name}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(a.cfg.KubeletPort)
	node.Status.NodeInfo = v1.NodeSystemInfo{
		MachineID: a.cfg.Name, SystemUUID: a.cfg.Name, BootID: a.cfg.Name,
		KernelVersion: kernelVersion(), OSImage: "runnel-e2e", ContainerRuntimeVersion: "process://runnel-e2e",
		KubeletVersion: "v1.37.2", OperatingSystem: "linux", Architecture: runtime.GOARCH,
	}
	_, err := a.cfg.Client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
	return err
}

func kernelVersion() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

// heartbeat renews the node Lease every 10 s and the Ready condition every 30 s, so the node
// lifecycle controller keeps the node schedulable.
func (a *Agent) heartbeat(ctx context.Context) {
	leases := a.cfg.Client.CoordinationV1().Leases(v1.NamespaceNodeLease)
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for n := 0; ; n++ {
		if err := a.renewLease(ctx, leases); err != nil && ctx.Err() == nil {
			klog.Errorf("node %s: renewing lease: %v", a.cfg.Name, err)
		}
		if n%3 == 2 {
			if node, err := a.cfg.Client.CoreV1().Nodes().Get(ctx, a.cfg.Name, metav1.GetOptions{}); err == nil {
				if err := a.updateNodeStatus(ctx, node); err != nil && ctx.Err() == nil {
					klog.Errorf("node %s: status: %v", a.cfg.Name, err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (a *Agent) renewLease(ctx context.Context, leases interface {
	Get(context.Context, string, metav1.GetOptions) (*coordv1.Lease, error)
	Create(context.Context, *coordv1.Lease, metav1.CreateOptions) (*coordv1.Lease, error)
	Update(context.Context, *coordv1.Lease, metav1.UpdateOptions) (*coordv1.Lease, error)
}) error {
	t := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, a.cfg.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.cfg.Name, Namespace: v1.NamespaceNodeLease},
			Spec:       coordv1.LeaseSpec{HolderIdentity: ptr.To(a.cfg.Name), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &t},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.RenewTime = &t
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// createSandbox gives a pod its network namespace, address and /etc files.
func (a *Agent) createSandbox(pod *v1.Pod, dir string) (*sandbox, error) {
	etcDir := filepath.Join(dir, "etc")
	if err := os.MkdirAll(etcDir, 0o755); err != nil {
		return nil, err
	}
	sb := &sandbox{etc: map[string]string{}}
	if pod.Spec.HostNetwork {
		sb.ip = a.cfg.IP
		sb.netns = "host"
	} else {
		ip, err := a.ipam.allocate()
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256([]byte(pod.UID))
		id := hex.EncodeToString(sum[:])
		sb.netns = a.cfg.Net.NetnsPrefix() + id[:12]
		veth := fmt.Sprintf("rv%d%s", a.cfg.Net.Index, id[:10])
		if err := a.cfg.Net.CreatePodNetns(sb.netns, veth, ip); err != nil {
			a.ipam.release(ip)
			return nil, err
		}
		sb.ip = ip
	}
	files := map[string]string{
		"/etc/hosts":    hostsFile(pod, sb.ip),
		"/etc/hostname": podHostname(pod) + "\n",
	}
	if resolv := a.resolvConf(pod); resolv != "" {
		files["/etc/resolv.conf"] = resolv
	}
	for target, content := range files {
		path := filepath.Join(etcDir, filepath.Base(target))
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return nil, err
		}
		sb.etc[target] = path
	}
	return sb, nil
}

// ClusterDomain is the DNS suffix of Services and pods.
const ClusterDomain = "cluster.local"

func (a *Agent) resolvConf(pod *v1.Pod) string {
	policy := pod.Spec.DNSPolicy
	if policy == v1.DNSDefault || policy == v1.DNSNone && pod.Spec.DNSConfig == nil || policy == v1.DNSClusterFirst && pod.Spec.HostNetwork {
		return ""
	}
	servers := []string{a.cfg.Net.Gateway().String()}
	search := []string{pod.Namespace + ".svc." + ClusterDomain, "svc." + ClusterDomain, ClusterDomain}
	options := []string{"ndots:5"}
	if policy == v1.DNSNone {
		servers, search, options = nil, nil, nil
	}
	if c := pod.Spec.DNSConfig; c != nil {
		servers = append(servers, c.Nameservers...)
		search = append(search, c.Searches...)
		for _, o := range c.Options {
			if o.Value != nil {
				options = append(options, o.Name+":"+*o.Value)
			} else {
				options = append(options, o.Name)
			}
		}
	}
	var b strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(search) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.String()
}

func hostsFile(pod *v1.Pod, ip net.IP) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file (runnel-e2e node).\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	host := podHostname(pod)
	if pod.Spec.Subdomain != "" {
		fmt.Fprintf(&b, "%s\t%s.%s.%s.svc.%s\t%s\n", ip, host, pod.Spec.Subdomain, pod.Namespace, ClusterDomain, host)
	} else {
		fmt.Fprintf(&b, "%s\t%s\n", ip, host)
	}
	for _, alias := range pod.Spec.HostAliases {
		fmt.Fprintf(&b, "%s\t%s\n", alias.IP, strings.Join(alias.Hostnames, "\t"))
	}
	return b.String()
}

// ipam hands out pod addresses from a node's /24.
type ipam struct {
	mu     sync.Mutex
	subnet *net.IPNet
	used   map[string]bool
}

func newIPAM(subnet *net.IPNet) *ipam { return &ipam{subnet: subnet, used: map[string]bool{}} }

func (p *ipam) allocate() (net.IP, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	base := p.subnet.IP.To4()
	for host := 2; host < 255; host++ {
		ip := net.IPv4(base[0], base[1], base[2], byte(host))
		if !p.used[ip.String()] {
			p.used[ip.String()] = true
			return ip, nil
		}
	}
	return nil, fmt.Errorf("no free pod address in %s", p.subnet)
}

func (p *ipam) release(ip net.IP) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.used, ip.String())
}
