package node

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	authv1 "k8s.io/api/authentication/v1"
	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"runnel.dev/e2e/kube/internal/containerinit"
)

// mountError is a volume the node could not set up (FailedMount); the pod waits and retries.
type mountError struct{ msg string }

func (e *mountError) Error() string { return e.msg }

// volumeSet is the host side of a pod's volumes: one folder per volume, refreshed on every sync so
// ConfigMap, Secret and token contents follow their sources like the kubelet's.
type volumeSet struct {
	dir        string
	paths      map[string]string
	tokenSince map[string]time.Time
}

func newVolumeSet(dir string) *volumeSet {
	return &volumeSet{dir: dir, paths: map[string]string{}, tokenSince: map[string]time.Time{}}
}

// sync writes every volume's current content.
func (vs *volumeSet) sync(ctx context.Context, c kubernetes.Interface, pod *v1.Pod, podIP string) error {
	for _, vol := range pod.Spec.Volumes {
		path, err := vs.syncOne(ctx, c, pod, vol, podIP)
		if err != nil {
			return &mountError{fmt.Sprintf("MountVolume.SetUp failed for volume %q: %v", vol.Name, err)}
		}
		vs.paths[vol.Name] = path
	}
	return nil
}

func (vs *volumeSet) syncOne(ctx context.Context, c kubernetes.Interface, pod *v1.Pod, vol v1.Volume, podIP string) (string, error) {
	dir := filepath.Join(vs.dir, vol.Name)
	src := vol.VolumeSource
	switch {
	case src.EmptyDir != nil:
		return dir, os.MkdirAll(dir, 0o777)
	case src.HostPath != nil:
		if src.HostPath.Type != nil && *src.HostPath.Type == v1.HostPathDirectoryOrCreate {
			if err := os.MkdirAll(src.HostPath.Path, 0o755); err != nil {
				return "", err
			}
		}
		if _, err := os.Stat(src.HostPath.Path); err != nil {
			return "", err
		}
		return src.HostPath.Path, nil
	case src.ConfigMap != nil:
		files, err := configMapFiles(ctx, c, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional)
		if err != nil {
			return "", err
		}
		return dir, writeFiles(dir, files, mode(src.ConfigMap.DefaultMode, 0o644))
	case src.Secret != nil:
		files, err := secretFiles(ctx, c, pod.Namespace, src.Secret.SecretName, src.Secret.Items, src.Secret.Optional)
		if err != nil {
			return "", err
		}
		return dir, writeFiles(dir, files, mode(src.Secret.DefaultMode, 0o644))
	case src.DownwardAPI != nil:
		files, err := downwardFiles(pod, src.DownwardAPI.Items, podIP)
		if err != nil {
			return "", err
		}
		return dir, writeFiles(dir, files, mode(src.DownwardAPI.DefaultMode, 0o644))
	case src.Projected != nil:
		files := map[string][]byte{}
		for _, p := range src.Projected.Sources {
			var part map[string][]byte
			var err error
			switch {
			case p.ConfigMap != nil:
				part, err = configMapFiles(ctx, c, pod.Namespace, p.ConfigMap.Name, p.ConfigMap.Items, p.ConfigMap.Optional)
			case p.Secret != nil:
				part, err = secretFiles(ctx, c, pod.Namespace, p.Secret.Name, p.Secret.Items, p.Secret.Optional)
			case p.DownwardAPI != nil:
				part, err = downwardFiles(pod, p.DownwardAPI.Items, podIP)
			case p.ServiceAccountToken != nil:
				part, err = vs.token(ctx, c, pod, vol.Name, dir, p.ServiceAccountToken)
			default:
				err = fmt.Errorf("unsupported projected source")
			}
			if err != nil {
				return "", err
			}
			for k, v := range part {
				files[k] = v
			}
		}
		return dir, writeFiles(dir, files, mode(src.Projected.DefaultMode, 0o644))
	}
	return "", fmt.Errorf("this node supports emptyDir, hostPath, configMap, secret, downwardAPI and projected volumes only")
}

// token requests a bound service-account token, again once half its lifetime has passed.
func (vs *volumeSet) token(ctx context.Context, c kubernetes.Interface, pod *v1.Pod, vol, dir string, p *v1.ServiceAccountTokenProjection) (map[string][]byte, error) {
	key := vol + "/" + p.Path
	expiry := int64(3600)
	if p.ExpirationSeconds != nil {
		expiry = *p.ExpirationSeconds
	}
	if since, ok := vs.tokenSince[key]; ok && time.Since(since) < time.Duration(expiry/2)*time.Second {
		if b, err := os.ReadFile(filepath.Join(dir, p.Path)); err == nil {
			return map[string][]byte{p.Path: b}, nil
		}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	req := &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{
		ExpirationSeconds: &expiry,
		BoundObjectRef:    &authv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if p.Audience != "" {
		req.Spec.Audiences = []string{p.Audience}
	}
	tok, err := c.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("requesting a token for service account %s/%s: %w", pod.Namespace, sa, err)
	}
	vs.tokenSince[key] = time.Now()
	return map[string][]byte{p.Path: []byte(tok.Status.Token)}, nil
}

func configMapFiles(ctx context.Context, c kubernetes.Interface, ns, name string, items []v1.KeyToPath, opt *bool) (map[string][]byte, error) {
	cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional(opt) {
			return nil, nil
		}
		return nil, fmt.Errorf("configmap %q not found", name)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return pick(data, items, "ConfigMap "+name)
}

func secretFiles(ctx context.Context, c kubernetes.Interface, ns, name string, items []v1.KeyToPath, opt *bool) (map[string][]byte, error) {
	s, err := c.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		if optional(opt) {
			return nil, nil
		}
		return nil, fmt.Errorf("secret %q not found", name)
	}
	return pick(s.Data, items, "Secret "+name)
}

// pick applies a volume's items list: all keys by default, or the listed keys at their paths.
func pick(data map[string][]byte, items []v1.KeyToPath, what string) (map[string][]byte, error) {
	if len(items) == 0 {
		return data, nil
	}
	out := map[string][]byte{}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return nil, fmt.Errorf("%s has no key %q", what, it.Key)
		}
		out[it.Path] = v
	}
	return out, nil
}

func downwardFiles(pod *v1.Pod, items []v1.DownwardAPIVolumeFile, podIP string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = podField(pod, it.FieldRef.FieldPath, podIP, "")
		case it.ResourceFieldRef != nil:
			ctr := &pod.Spec.Containers[0]
			v, err = resourceField(pod, ctr, it.ResourceFieldRef)
		}
		if err != nil {
			return nil, fmt.Errorf("downward API file %s: %w", it.Path, err)
		}
		out[it.Path] = []byte(v)
	}
	return out, nil
}

func mode(m *int32, def os.FileMode) os.FileMode {
	if m == nil {
		return def
	}
	return os.FileMode(*m)
}

// writeFiles replaces a volume folder's files, each written to a temporary name and renamed so a
// reader never sees half a file; keys no longer present are removed.
func writeFiles(dir string, files map[string][]byte, perm os.FileMode) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for rel, content := range files {
		if strings.Contains(rel, "..") || filepath.IsAbs(rel) {
			return fmt.Errorf("invalid path %q", rel)
		}
		path := filepath.Join(dir, rel)
		if old, err := os.ReadFile(path); err == nil && string(old) == string(content) {
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, content, perm); err != nil {
			return err
		}
		if err := os.Chmod(tmp, perm); err != nil {
			return err
		}
		if err := os.Rename(tmp, path); err != nil {
			return err
		}
	}
	return filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if _, ok := files[rel]; !ok {
			return os.Remove(path)
		}
		return nil
	})
}

// mounts lists a container's bind mounts: its volumeMounts plus the pod's hosts, resolv.conf and
// hostname files.
func (vs *volumeSet) mounts(ctr *v1.Container, etc map[string]string) ([]containerinit.Mount, error) {
	var out []containerinit.Mount
	for _, vm := range ctr.VolumeMounts {
		src, ok := vs.paths[vm.Name]
		if !ok {
			return nil, &configError{fmt.Sprintf("volumeMount %q names no volume of the pod", vm.Name)}
		}
		if vm.SubPath != "" {
			src = filepath.Join(src, vm.SubPath)
			if _, err := os.Stat(src); os.IsNotExist(err) {
				if err := os.MkdirAll(src, 0o755); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, containerinit.Mount{Source: src, Target: vm.MountPath, ReadOnly: vm.ReadOnly})
	}
	for _, target := range []string{"/etc/hosts", "/etc/resolv.conf", "/etc/hostname"} {
		if src, ok := etc[target]; ok {
			out = append(out, containerinit.Mount{Source: src, Target: target})
		}
	}
	return out, nil
}
