// Package svcproxy makes Service cluster IPs reachable without iptables: each cluster IP is added
// to the cluster bridge as a local address and a TCP listener per service port forwards connections to
// the service's ready endpoints, round robin (the old userspace mode of kube-proxy). Pods reach it
// through their default route to the bridge; the test process reaches it directly.
package svcproxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"

	"runnel.dev/e2e/kube/internal/netsetup"
)

// target is what one cluster IP and port lead to.
type target struct {
	namespace, service, portName string
}

type listener struct {
	ln     net.Listener
	target atomic.Pointer[target]
	next   atomic.Uint64
}

// Proxy forwards cluster IP traffic to endpoints.
type Proxy struct {
	net      *netsetup.Network
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister

	mu        sync.Mutex
	listeners map[string]*listener
	ips       map[string]bool
}

// New wires a proxy to the shared informers; call Run after the factory starts.
func New(n *netsetup.Network, factory informers.SharedInformerFactory) *Proxy {
	return &Proxy{
		net:       n,
		services:  factory.Core().V1().Services().Lister(),
		slices:    factory.Discovery().V1().EndpointSlices().Lister(),
		listeners: map[string]*listener{},
		ips:       map[string]bool{},
	}
}

// Run reconciles listeners whenever Services change, until ctx ends.
func (p *Proxy) Run(ctx context.Context, factory informers.SharedInformerFactory) error {
	changed := make(chan struct{}, 1)
	poke := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	_, err := factory.Core().V1().Services().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: poke, UpdateFunc: func(_, o any) { poke(o) }, DeleteFunc: poke,
	})
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			p.closeAll()
			return nil
		case <-changed:
			p.reconcile()
		}
	}
}

func (p *Proxy) reconcile() {
	svcs, err := p.services.List(labels.Everything())
	if err != nil {
		klog.Errorf("service proxy: %v", err)
		return
	}
	want := map[string]target{}
	wantIPs := map[string]bool{}
	for _, svc := range svcs {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == v1.ClusterIPNone || svc.Spec.Type == v1.ServiceTypeExternalName {
			continue
		}
		for _, port := range svc.Spec.Ports {
			if port.Protocol != v1.ProtocolTCP && port.Protocol != "" {
				continue
			}
			wantIPs[ip] = true
			want[net.JoinHostPort(ip, strconv.Itoa(int(port.Port)))] = target{svc.Namespace, svc.Name, port.Name}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for ip := range wantIPs {
		if !p.ips[ip] {
			if err := p.net.AddServiceIP(net.ParseIP(ip)); err != nil {
				klog.Errorf("service proxy: %v", err)
				continue
			}
			p.ips[ip] = true
		}
	}
	for addr, l := range p.listeners {
		if _, ok := want[addr]; !ok {
			l.ln.Close()
			delete(p.listeners, addr)
		}
	}
	for addr, t := range want {
		if l, ok := p.listeners[addr]; ok {
			l.target.Store(&t)
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			klog.Errorf("service proxy: listening on %s for %s/%s: %v", addr, t.namespace, t.service, err)
			continue
		}
		l := &listener{ln: ln}
		l.target.Store(&t)
		p.listeners[addr] = l
		go p.accept(l)
	}
	for ip := range p.ips {
		if !wantIPs[ip] {
			_ = p.net.RemoveServiceIP(net.ParseIP(ip))
			delete(p.ips, ip)
		}
	}
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for addr, l := range p.listeners {
		l.ln.Close()
		delete(p.listeners, addr)
	}
}

func (p *Proxy) accept(l *listener) {
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(l, conn)
	}
}

// forward connects a client to the first endpoint that answers, starting at the round-robin cursor.
func (p *Proxy) forward(l *listener, client net.Conn) {
	defer client.Close()
	t := l.target.Load()
	eps := p.endpoints(t)
	if len(eps) == 0 {
		klog.V(2).Infof("service proxy: %s/%s has no ready endpoints", t.namespace, t.service)
		return
	}
	start := int(l.next.Add(1))
	var backend net.Conn
	var err error
	for i := range eps {
		backend, err = net.DialTimeout("tcp", eps[(start+i)%len(eps)], 2*time.Second)
		if err == nil {
			break
		}
	}
	if backend == nil {
		klog.V(2).Infof("service proxy: %s/%s: %v", t.namespace, t.service, err)
		return
	}
	defer backend.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(backend, client)
	go pipe(client, backend)
	<-done
	<-done
}

// endpoints lists ready addresses for a service port from its EndpointSlices.
func (p *Proxy) endpoints(t *target) []string {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: t.service})
	slices, err := p.slices.EndpointSlices(t.namespace).List(sel)
	if err != nil {
		return nil
	}
	var out []string
	for _, s := range slices {
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		port := int32(-1)
		for _, sp := range s.Ports {
			name := ""
			if sp.Name != nil {
				name = *sp.Name
			}
			if name == t.portName && sp.Port != nil {
				port = *sp.Port
			}
		}
		if port < 0 {
			continue
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				out = append(out, net.JoinHostPort(a, fmt.Sprint(port)))
			}
		}
	}
	return out
}
