// Package netsetup owns the host side of a test cluster's network: a bridge that pods' veth pairs
// join, the node addresses on it, the Service cluster IPs (also on the bridge, as local /32 addresses), and one network
// namespace per pod. Several clusters can run at once; each takes a free index under a file lock.
package netsetup

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// Network is the address plan of one cluster, numbered by its index.
type Network struct {
	Index int
	lock  *os.File
}

const maxClusters = 16

// Acquire takes the first free cluster index (held until the process exits) and removes whatever a
// crashed run left behind under that index.
func Acquire() (*Network, error) {
	if err := os.MkdirAll("/run/runnel-e2e", 0o755); err != nil {
		return nil, err
	}
	for i := 0; i < maxClusters; i++ {
		f, err := os.OpenFile(filepath.Join("/run/runnel-e2e", fmt.Sprintf("net-%d.lock", i)), os.O_CREATE|os.O_RDWR, 0o644)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			continue
		}
		n := &Network{Index: i, lock: f}
		n.Teardown()
		return n, nil
	}
	return nil, fmt.Errorf("all %d cluster network slots are in use", maxClusters)
}

// Bridge is the bridge's interface name.
func (n *Network) Bridge() string { return fmt.Sprintf("rnlbr%d", n.Index) }

// NetnsPrefix starts the name of every pod network namespace of this cluster.
func (n *Network) NetnsPrefix() string { return fmt.Sprintf("rnl%d-", n.Index) }

// Gateway is the bridge address: pods' default route, the API server and the DNS server.
func (n *Network) Gateway() net.IP { return net.IPv4(10, byte(200+n.Index), 0, 1) }

// NodeIP is the address node k's kubelet stand-in serves on.
func (n *Network) NodeIP(k int) net.IP { return net.IPv4(10, byte(200+n.Index), 0, byte(10+k)) }

// PodSubnet is the /24 that node k's pods take addresses from.
func (n *Network) PodSubnet(k int) *net.IPNet {
	return &net.IPNet{IP: net.IPv4(10, byte(200+n.Index), byte(k+1), 0), Mask: net.CIDRMask(24, 32)}
}

// ClusterCIDR covers all pod addresses.
func (n *Network) ClusterCIDR() string { return fmt.Sprintf("10.%d.0.0/16", 200+n.Index) }

// ServiceCIDR is the range Services take cluster IPs from.
func (n *Network) ServiceCIDR() string { return fmt.Sprintf("10.%d.0.0/16", 100+n.Index) }

// KubernetesServiceIP is the first address of ServiceCIDR, taken by the `kubernetes` Service.
func (n *Network) KubernetesServiceIP() net.IP { return net.IPv4(10, byte(100+n.Index), 0, 1) }

// Setup creates the bridge with the gateway and node addresses.
func (n *Network) Setup(nodes int) error {
	steps := [][]string{
		{"link", "add", n.Bridge(), "type", "bridge"},
		{"addr", "add", n.Gateway().String() + "/16", "dev", n.Bridge()},
		{"link", "set", n.Bridge(), "up"},
	}
	for k := 0; k < nodes; k++ {
		steps = append(steps, []string{"addr", "add", n.NodeIP(k).String() + "/32", "dev", n.Bridge()})
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			return err
		}
	}
	return nil
}

// Teardown removes every pod namespace and interface of this index; missing ones are fine.
func (n *Network) Teardown() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), n.NetnsPrefix()) {
			_ = ip("netns", "del", e.Name())
		}
	}
	_ = ip("link", "del", n.Bridge())
}

// AddServiceIP makes a cluster IP local to this host so the service proxy can listen on it.
func (n *Network) AddServiceIP(addr net.IP) error {
	err := ip("addr", "add", addr.String()+"/32", "dev", n.Bridge())
	if err != nil && strings.Contains(err.Error(), "File exists") {
		return nil
	}
	return err
}

// RemoveServiceIP drops a cluster IP added by AddServiceIP.
func (n *Network) RemoveServiceIP(addr net.IP) error {
	return ip("addr", "del", addr.String()+"/32", "dev", n.Bridge())
}

// CreatePodNetns makes a network namespace with eth0 at addr on the bridge and a default route
// through the gateway.
func (n *Network) CreatePodNetns(name string, hostVeth string, addr net.IP) error {
	steps := [][]string{
		{"netns", "add", name},
		{"link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", name},
		{"link", "set", hostVeth, "master", n.Bridge(), "up"},
		{"-n", name, "addr", "add", addr.String() + "/16", "dev", "eth0"},
		{"-n", name, "link", "set", "eth0", "up"},
		{"-n", name, "link", "set", "lo", "up"},
		{"-n", name, "route", "add", "default", "via", n.Gateway().String()},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			_ = n.DeletePodNetns(name)
			return err
		}
	}
	return nil
}

// DeletePodNetns removes a pod's namespace; its veth pair goes with it.
func (n *Network) DeletePodNetns(name string) error {
	if _, err := os.Stat(filepath.Join("/run/netns", name)); os.IsNotExist(err) {
		return nil
	}
	return ip("netns", "del", name)
}

// NetnsPath is where a pod namespace is mounted, for nsenter.
func NetnsPath(name string) string { return filepath.Join("/run/netns", name) }

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
