package node

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
)

// Image is what an image name stands for on this machine: a local program and the leading
// arguments that make up the image's ENTRYPOINT (the image has no CMD).
type Image struct {
	Entrypoint string
	Prefix     []string
}

// Images maps image references to local programs; there is no registry and no container runtime.
type Images map[string]Image

// ParseImage reads a `NAME=PATH [ARG...]` flag value.
func ParseImage(flag string) (string, Image, error) {
	name, rest, ok := strings.Cut(flag, "=")
	fields := strings.Fields(rest)
	if !ok || name == "" || len(fields) == 0 {
		return "", Image{}, fmt.Errorf("image mapping %q: want NAME=PATH [ARG...]", flag)
	}
	if !filepath.IsAbs(fields[0]) {
		return "", Image{}, fmt.Errorf("image mapping %q: %s is not an absolute path", flag, fields[0])
	}
	return normalize(name), Image{Entrypoint: fields[0], Prefix: fields[1:]}, nil
}

// normalize drops a registry-free digest and adds the implicit ":latest" tag.
func normalize(ref string) string {
	if at := strings.Index(ref, "@"); at >= 0 {
		ref = ref[:at]
	}
	if !strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") {
		ref += ":latest"
	}
	return ref
}

// Resolve finds the program behind an image reference, with an ErrImagePull-style error otherwise.
func (m Images) Resolve(ref string) (Image, error) {
	if img, ok := m[normalize(ref)]; ok {
		return img, nil
	}
	known := make([]string, 0, len(m))
	for k := range m {
		known = append(known, k)
	}
	sort.Strings(known)
	return Image{}, fmt.Errorf("image %q maps to no local binary on this node (known images: %s)", ref, strings.Join(known, ", "))
}

// Argv applies Kubernetes' command/args rules to an image: command replaces the entrypoint, args
// follow it. A command naming the image's own program (by base name) runs the mapped binary.
func (img Image) Argv(command, args []string) []string {
	if len(command) == 0 {
		argv := append([]string{img.Entrypoint}, img.Prefix...)
		return append(argv, args...)
	}
	argv := append([]string{}, command...)
	if filepath.Base(argv[0]) == filepath.Base(img.Entrypoint) {
		argv[0] = img.Entrypoint
	}
	return append(argv, args...)
}
