// Package cluster launches a whole test cluster from one command: network, PKI, etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler (each a child process of this binary),
// and in-process the node agents, service proxy and DNS server. It writes a ready file when the
// nodes are Ready, and tears everything down on SIGTERM, SIGINT or when its stdin closes.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"runnel.dev/e2e/kube/internal/dns"
	"runnel.dev/e2e/kube/internal/netsetup"
	"runnel.dev/e2e/kube/internal/node"
	"runnel.dev/e2e/kube/internal/pki"
	"runnel.dev/e2e/kube/internal/proc"
	"runnel.dev/e2e/kube/internal/svcproxy"
)

// Ready is written to the ready file once the cluster can take work.
type Ready struct {
	Kubeconfig  string   `json:"kubeconfig"`
	Server      string   `json:"server"`
	Gateway     string   `json:"gateway"`
	DNS         string   `json:"dns"`
	ServiceCIDR string   `json:"serviceCIDR"`
	ClusterCIDR string   `json:"clusterCIDR"`
	Nodes       []string `json:"nodes"`
	LogDir      string   `json:"logDir"`
	NodesDir    string   `json:"nodesDir"`
	StartupSecs float64  `json:"startupSeconds"`
}

type imageFlags []string

func (f *imageFlags) String() string     { return fmt.Sprint(*f) }
func (f *imageFlags) Set(v string) error { *f = append(*f, v); return nil }

// Main runs `runnel-kube cluster`.
func Main(args []string) int {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	dir := fs.String("dir", "", "folder for the cluster's state, certificates and logs (required)")
	nodes := fs.Int("nodes", 2, "number of fake nodes")
	backoff := fs.Duration("restart-backoff", 10*time.Second, "first back-off before restarting a crashed container")
	watchStdin := fs.Bool("watch-stdin", false, "shut down when stdin reaches end of file (the parent died)")
	var images imageFlags
	fs.Var(&images, "image", "NAME=PATH [ARGS...]: run PATH for containers of image NAME (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "cluster: --dir is required")
		return 2
	}
	imgs := node.Images{}
	for _, f := range images {
		name, img, err := node.ParseImage(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "cluster:", err)
			return 2
		}
		imgs[name] = img
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}
	c := &cluster{dir: *dir, nodes: *nodes, images: imgs, backoff: *backoff}
	err := c.run(ctx)
	c.shutdown()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster:", err)
		return 1
	}
	return 0
}

type component struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
}

type cluster struct {
	dir     string
	nodes   int
	images  node.Images
	backoff time.Duration

	net        *netsetup.Network
	files      pki.Files
	components []*component
	agentsDone sync.WaitGroup
	cancel     context.CancelFunc
}

func (c *cluster) logDir() string { return filepath.Join(c.dir, "logs") }

func (c *cluster) run(ctx context.Context) error {
	start := time.Now()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, d := range []string{c.dir, c.logDir()} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if c.net, err = netsetup.Acquire(); err != nil {
		return err
	}
	if err := c.net.Setup(c.nodes); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	gw := c.net.Gateway()
	server := "https://" + net.JoinHostPort(gw.String(), "6443")
	c.files = pki.Files{Dir: filepath.Join(c.dir, "pki")}
	var nodeIPs []net.IP
	for k := 0; k < c.nodes; k++ {
		nodeIPs = append(nodeIPs, c.net.NodeIP(k))
	}
	err = pki.Generate(c.files, pki.Request{
		APIServerIPs:   []net.IP{gw, c.net.KubernetesServiceIP(), net.IPv4(127, 0, 0, 1)},
		APIServerNames: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + node.ClusterDomain, "localhost"},
		NodeIPs:        nodeIPs,
		Server:         server,
	})
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}

	etcdClient, etcdPeer, err := freePorts()
	if err != nil {
		return err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdClient)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPeer)
	if err := c.start(ctx, self, "etcd",
		"--name=default", "--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--unsafe-no-fsync", "--log-level=warn",
		"--listen-metrics-urls=", "--quota-backend-bytes=4294967296",
	); err != nil {
		return err
	}
	f := c.files
	if err := c.start(ctx, self, "kube-apiserver",
		"--etcd-servers="+etcdURL,
		"--bind-address="+gw.String(), "--advertise-address="+gw.String(), "--secure-port=6443",
		"--service-cluster-ip-range="+c.net.ServiceCIDR(),
		"--client-ca-file="+f.CACert(), "--tls-cert-file="+f.ServingCert(), "--tls-private-key-file="+f.ServingKey(),
		"--service-account-issuer=https://kubernetes.default.svc."+node.ClusterDomain,
		"--service-account-key-file="+f.SAPub(), "--service-account-signing-key-file="+f.SAKey(),
		"--kubelet-client-certificate="+f.KubeletClientCert(), "--kubelet-client-key="+f.KubeletClientKey(),
		"--kubelet-certificate-authority="+f.CACert(), "--kubelet-preferred-address-types=InternalIP",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NamespaceLifecycle,LimitRanger,ServiceAccount,DefaultTolerationSeconds,"+
			"DefaultStorageClass,StorageObjectInUseProtection,PersistentVolumeClaimResize,RuntimeClass,CertificateApproval,"+
			"CertificateSigning,CertificateSubjectRestriction,TaintNodesByCondition,PodSecurity,Priority,NodeRestriction,"+
			"MutatingAdmissionPolicy,MutatingAdmissionWebhook,ValidatingAdmissionPolicy,ValidatingAdmissionWebhook,ResourceQuota",
		"--allow-privileged=true", "--profiling=false", "--endpoint-reconciler-type=lease",
		"--v=1",
	); err != nil {
		return err
	}
	restCfg, err := clientcmd.BuildConfigFromFlags("", f.AdminKubeconfig())
	if err != nil {
		return err
	}
	if err := c.waitHealthy(ctx, server+"/readyz", 90*time.Second); err != nil {
		return err
	}
	if err := c.start(ctx, self, "kube-controller-manager",
		"--kubeconfig="+f.AdminKubeconfig(), "--authentication-kubeconfig="+f.AdminKubeconfig(), "--authorization-kubeconfig="+f.AdminKubeconfig(),
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0",
		"--service-account-private-key-file="+f.SAKey(), "--root-ca-file="+f.CACert(),
		"--cluster-signing-cert-file="+f.CACert(), "--cluster-signing-key-file="+f.CAKey(),
		"--use-service-account-credentials=true", "--controllers=*",
		"--service-cluster-ip-range="+c.net.ServiceCIDR(), "--cluster-cidr="+c.net.ClusterCIDR(),
		"--concurrent-gc-syncs=10", "--v=1",
	); err != nil {
		return err
	}
	if err := c.start(ctx, self, "kube-scheduler",
		"--kubeconfig="+f.AdminKubeconfig(), "--authentication-kubeconfig="+f.AdminKubeconfig(), "--authorization-kubeconfig="+f.AdminKubeconfig(),
		"--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=0", "--v=1",
	); err != nil {
		return err
	}

	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return err
	}
	agentCtx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	factory := informers.NewSharedInformerFactory(client, 0)
	proxy := svcproxy.New(c.net, factory)
	resolver := dns.New(node.ClusterDomain, factory)
	factory.Core().V1().Services().Informer()
	factory.Discovery().V1().EndpointSlices().Informer()
	factory.Start(agentCtx.Done())
	c.goAgent(func() error { return proxy.Run(agentCtx, factory) })
	dnsAddr := net.JoinHostPort(gw.String(), "53")
	c.goAgent(func() error { return resolver.Serve(agentCtx, dnsAddr) })
	var names []string
	for k := 0; k < c.nodes; k++ {
		name := fmt.Sprintf("node-%d", k)
		names = append(names, name)
		agent := node.New(node.Config{
			Name: name, Index: k, IP: c.net.NodeIP(k), Net: c.net, Client: client,
			Dir: filepath.Join(c.dir, "nodes", name), Images: c.images, Self: self, RestartBackoff: c.backoff,
			KubeletPort: 10250, ServingCert: f.NodeCert(), ServingKey: f.NodeKey(), ClientCA: f.CACert(),
		})
		c.goAgent(func() error { return agent.Run(agentCtx) })
	}
	if err := c.waitReady(ctx, client, names); err != nil {
		return err
	}
	ready := Ready{
		Kubeconfig: f.AdminKubeconfig(), Server: server, Gateway: gw.String(), DNS: dnsAddr,
		ServiceCIDR: c.net.ServiceCIDR(), ClusterCIDR: c.net.ClusterCIDR(), Nodes: names,
		LogDir: c.logDir(), NodesDir: filepath.Join(c.dir, "nodes"), StartupSecs: time.Since(start).Seconds(),
	}
	raw, _ := json.MarshalIndent(ready, "", "  ")
	if err := os.WriteFile(filepath.Join(c.dir, "ready.json.tmp"), raw, 0o644); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(c.dir, "ready.json.tmp"), filepath.Join(c.dir, "ready.json")); err != nil {
		return err
	}
	fmt.Printf("cluster ready in %.1fs: export KUBECONFIG=%s\n", ready.StartupSecs, ready.Kubeconfig)
	return c.watch(ctx)
}

// watch returns when asked to stop, or with an error when a component dies.
func (c *cluster) watch(ctx context.Context) error {
	died := make(chan *component, len(c.components))
	for _, comp := range c.components {
		go func(comp *component) {
			<-comp.exited
			died <- comp
		}(comp)
	}
	select {
	case <-ctx.Done():
		return nil
	case comp := <-died:
		return fmt.Errorf("%s exited (%v); see %s", comp.name, comp.cmd.ProcessState, filepath.Join(c.logDir(), comp.name+".log"))
	}
}

func (c *cluster) goAgent(f func() error) {
	c.agentsDone.Add(1)
	go func() {
		defer c.agentsDone.Done()
		if err := f(); err != nil {
			klog.Errorf("cluster: %v", err)
		}
	}()
}

func (c *cluster) start(ctx context.Context, self, name string, args ...string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	cmd := exec.Command(self, append([]string{name}, args...)...)
	logFile, err := proc.StartLogged(cmd, filepath.Join(c.logDir(), name+".log"))
	if err != nil {
		return err
	}
	comp := &component{name: name, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(comp.exited)
	}()
	c.components = append(c.components, comp)
	return nil
}

// shutdown stops pods first (so their processes get SIGTERM and grace), then the control plane in
// reverse order, then removes the network.
func (c *cluster) shutdown() {
	if c.cancel != nil {
		c.cancel()
		c.agentsDone.Wait()
	}
	for i := len(c.components) - 1; i >= 0; i-- {
		comp := c.components[i]
		proc.Terminate(comp.cmd.Process.Pid, comp.exited, 10*time.Second)
	}
	if c.net != nil {
		c.net.Teardown()
	}
	// The etcd data is the bulk of the folder and useless once the cluster is gone; logs stay.
	_ = os.RemoveAll(filepath.Join(c.dir, "etcd"))
}

func (c *cluster) waitHealthy(ctx context.Context, url string, timeout time.Duration) error {
	cert, err := tls.LoadX509KeyPair(c.files.AdminCert(), c.files.AdminKey())
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(c.files.CACert())
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		for _, comp := range c.components {
			select {
			case <-comp.exited:
				return fmt.Errorf("%s exited during start-up; see %s", comp.name, filepath.Join(c.logDir(), comp.name+".log"))
			default:
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy after %s (last error: %v)", url, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitReady waits for every node to be Ready and the default service account to exist, so the
// first pod a test creates is admitted and scheduled.
func (c *cluster) waitReady(ctx context.Context, client kubernetes.Interface, nodes []string) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		missing := ""
		for _, n := range nodes {
			obj, err := client.CoreV1().Nodes().Get(ctx, n, metav1.GetOptions{})
			if err != nil || !nodeReady(obj) {
				missing = "node " + n
				break
			}
		}
		if missing == "" {
			if _, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
				missing = "service account default/default"
			}
		}
		if missing == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 90s", missing)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func nodeReady(n *v1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == v1.NodeReady {
			return c.Status == v1.ConditionTrue
		}
	}
	return false
}

func freePorts() (int, int, error) {
	var ports []int
	var lns []net.Listener
	for i := 0; i < 2; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, 0, err
		}
		lns = append(lns, ln)
		_, p, _ := net.SplitHostPort(ln.Addr().String())
		n, _ := strconv.Atoi(p)
		ports = append(ports, n)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports[0], ports[1], nil
}
