// Package pki makes the certificate authority, serving and client certificates, service-account
// signing key and admin kubeconfig of a test cluster. Everything is ECDSA P-256 and lives in one folder.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Files names the files Generate writes, relative to its folder.
type Files struct {
	Dir string
}

func (f Files) path(name string) string { return filepath.Join(f.Dir, name) }

func (f Files) CACert() string            { return f.path("ca.crt") }
func (f Files) CAKey() string             { return f.path("ca.key") }
func (f Files) ServingCert() string       { return f.path("apiserver.crt") }
func (f Files) ServingKey() string        { return f.path("apiserver.key") }
func (f Files) AdminCert() string         { return f.path("admin.crt") }
func (f Files) AdminKey() string          { return f.path("admin.key") }
func (f Files) KubeletClientCert() string { return f.path("apiserver-kubelet-client.crt") }
func (f Files) KubeletClientKey() string  { return f.path("apiserver-kubelet-client.key") }
func (f Files) NodeCert() string          { return f.path("node-serving.crt") }
func (f Files) NodeKey() string           { return f.path("node-serving.key") }
func (f Files) SAKey() string             { return f.path("sa.key") }
func (f Files) SAPub() string             { return f.path("sa.pub") }
func (f Files) AdminKubeconfig() string   { return f.path("admin.kubeconfig") }

// Request says which names the certificates must carry.
type Request struct {
	// APIServerIPs and APIServerNames are the subject alternative names of the API server.
	APIServerIPs   []net.IP
	APIServerNames []string
	// NodeIPs are the addresses the kubelet stand-ins serve their API on.
	NodeIPs []net.IP
	// Server is the URL written into the admin kubeconfig.
	Server string
}

type signer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// Generate writes a fresh PKI for one cluster into f.Dir.
func Generate(f Files, req Request) error {
	if err := os.MkdirAll(f.Dir, 0o700); err != nil {
		return err
	}
	ca, err := newCA()
	if err != nil {
		return err
	}
	if err := writeCert(f.CACert(), f.CAKey(), ca.cert, ca.key); err != nil {
		return err
	}
	leaves := []struct {
		cert, key string
		tmpl      x509.Certificate
	}{
		{f.ServingCert(), f.ServingKey(), x509.Certificate{
			Subject:     pkix.Name{CommonName: "kube-apiserver"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses: req.APIServerIPs, DNSNames: req.APIServerNames,
		}},
		{f.AdminCert(), f.AdminKey(), x509.Certificate{
			Subject:     pkix.Name{CommonName: "kubernetes-admin", Organization: []string{"system:masters"}},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}},
		{f.KubeletClientCert(), f.KubeletClientKey(), x509.Certificate{
			Subject:     pkix.Name{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}},
		{f.NodeCert(), f.NodeKey(), x509.Certificate{
			Subject:     pkix.Name{CommonName: "runnel-node"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IPAddresses: req.NodeIPs,
		}},
	}
	for _, l := range leaves {
		if err := ca.issue(l.cert, l.key, l.tmpl); err != nil {
			return err
		}
	}
	saKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	if err := writeKey(f.SAKey(), saKey); err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	if err != nil {
		return err
	}
	if err := os.WriteFile(f.SAPub(), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return err
	}
	return writeKubeconfig(f, req.Server)
}

func newCA() (*signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "runnel-e2e-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &signer{cert: cert, key: key}, nil
}

func (s *signer) issue(certPath, keyPath string, tmpl x509.Certificate) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl.SerialNumber = serial()
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = time.Now().Add(365 * 24 * time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, s.cert, &key.PublicKey, s.key)
	if err != nil {
		return fmt.Errorf("signing %s: %w", certPath, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	return writeCert(certPath, keyPath, cert, key)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

func writeCert(certPath, keyPath string, cert *x509.Certificate, key *ecdsa.PrivateKey) error {
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		return err
	}
	return writeKey(keyPath, key)
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600)
}

// writeKubeconfig embeds the CA and admin credentials so the file works from any folder.
func writeKubeconfig(f Files, server string) error {
	read := func(p string) (string, error) {
		b, err := os.ReadFile(p)
		return b64(b), err
	}
	ca, err := read(f.CACert())
	if err != nil {
		return err
	}
	cert, err := read(f.AdminCert())
	if err != nil {
		return err
	}
	key, err := read(f.AdminKey())
	if err != nil {
		return err
	}
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: runnel-e2e
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    client-certificate-data: %s
    client-key-data: %s
contexts:
- name: runnel-e2e
  context:
    cluster: runnel-e2e
    user: admin
    namespace: default
current-context: runnel-e2e
`, server, ca, cert, key)
	return os.WriteFile(f.AdminKubeconfig(), []byte(cfg), 0o600)
}
