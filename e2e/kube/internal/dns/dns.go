// Package dns answers the cluster's DNS names the way CoreDNS's kubernetes plugin does:
// <svc>.<ns>.svc.cluster.local gives the cluster IP (or, for headless services, the ready endpoint
// addresses), <hostname>.<svc>.<ns>.svc.cluster.local one endpoint, <a-b-c-d>.<ns>.pod.cluster.local
// a pod address. Other names get NXDOMAIN at once: the machine has no upstream resolver.
package dns

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	v1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/klog/v2"
)

// Server is the cluster DNS server.
type Server struct {
	domain   string
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
}

// New wires the server to the shared informers.
func New(domain string, factory informers.SharedInformerFactory) *Server {
	return &Server{
		domain:   strings.TrimSuffix(domain, ".") + ".",
		services: factory.Core().V1().Services().Lister(),
		slices:   factory.Discovery().V1().EndpointSlices().Lister(),
	}
}

// Serve answers UDP and TCP queries on addr until ctx ends.
func (s *Server) Serve(ctx context.Context, addr string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		pc.Close()
		return err
	}
	go func() {
		<-ctx.Done()
		pc.Close()
		ln.Close()
	}()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serveTCP(conn)
		}
	}()
	buf := make([]byte, 4096)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return nil
		}
		if resp := s.answer(buf[:n]); resp != nil {
			_, _ = pc.WriteTo(resp, from)
		}
	}
}

func (s *Server) serveTCP(conn net.Conn) {
	defer conn.Close()
	for {
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		var lenBuf [2]byte
		if _, err := io.ReadFull(conn, lenBuf[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(lenBuf[:]))
		if _, err := io.ReadFull(conn, msg); err != nil {
			return
		}
		resp := s.answer(msg)
		if resp == nil {
			return
		}
		out := binary.BigEndian.AppendUint16(nil, uint16(len(resp)))
		if _, err := conn.Write(append(out, resp...)); err != nil {
			return
		}
	}
}

// answer builds the response to one query message; nil drops a message that cannot be parsed.
func (s *Server) answer(query []byte) []byte {
	var p dnsmessage.Parser
	hdr, err := p.Start(query)
	if err != nil {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	resp := dnsmessage.Header{ID: hdr.ID, Response: true, Authoritative: true, RecursionDesired: hdr.RecursionDesired}
	ips, known := s.lookup(strings.ToLower(q.Name.String()))
	if !known {
		resp.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, resp)
	b.EnableCompression()
	_ = b.StartQuestions()
	_ = b.Question(q)
	_ = b.StartAnswers()
	if q.Type == dnsmessage.TypeA || q.Type == dnsmessage.TypeALL {
		for _, ip := range ips {
			var a dnsmessage.AResource
			copy(a.A[:], ip.To4())
			_ = b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 5}, a)
		}
	}
	out, err := b.Finish()
	if err != nil {
		klog.Errorf("dns: %v", err)
		return nil
	}
	return out
}

// lookup resolves a fully qualified name; known is false for names that do not exist.
func (s *Server) lookup(name string) ([]net.IP, bool) {
	if name == "localhost." {
		return []net.IP{net.IPv4(127, 0, 0, 1)}, true
	}
	rest, ok := strings.CutSuffix(name, "."+s.domain)
	if !ok {
		return nil, false
	}
	parts := strings.Split(rest, ".")
	switch {
	case len(parts) == 3 && parts[2] == "svc":
		return s.service(parts[1], parts[0])
	case len(parts) == 4 && parts[3] == "svc":
		return s.endpointHost(parts[2], parts[1], parts[0])
	case len(parts) == 3 && parts[2] == "pod":
		ip := net.ParseIP(strings.ReplaceAll(parts[0], "-", "."))
		if ip == nil || ip.To4() == nil {
			return nil, false
		}
		return []net.IP{ip}, true
	}
	return nil, false
}

func (s *Server) service(ns, name string) ([]net.IP, bool) {
	svc, err := s.services.Services(ns).Get(name)
	if err != nil {
		return nil, false
	}
	if svc.Spec.ClusterIP != "" && svc.Spec.ClusterIP != v1.ClusterIPNone {
		return []net.IP{net.ParseIP(svc.Spec.ClusterIP)}, true
	}
	var out []net.IP
	s.eachEndpoint(ns, name, func(_ string, ip net.IP) { out = append(out, ip) })
	return out, true
}

func (s *Server) endpointHost(ns, svc, host string) ([]net.IP, bool) {
	var out []net.IP
	s.eachEndpoint(ns, svc, func(h string, ip net.IP) {
		if h == host {
			out = append(out, ip)
		}
	})
	return out, len(out) > 0
}

func (s *Server) eachEndpoint(ns, svc string, f func(hostname string, ip net.IP)) {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: svc})
	slices, err := s.slices.EndpointSlices(ns).List(sel)
	if err != nil {
		return
	}
	for _, sl := range slices {
		for _, ep := range sl.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			host := ""
			if ep.Hostname != nil {
				host = *ep.Hostname
			}
			for _, a := range ep.Addresses {
				if ip := net.ParseIP(a); ip != nil {
					f(host, ip)
				}
			}
		}
	}
}
