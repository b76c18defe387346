{{- define "runnel-operator.labels" -}}
app.kubernetes.io/name: runnel-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end }}

{{- define "runnel-operator.jobNamespaces" -}}
{{- if .Values.jobNamespaces }}{{ join "," .Values.jobNamespaces }}{{ else }}{{ .Release.Namespace }}{{ end -}}
{{- end }}

{{/* The rules the operator needs, in a ClusterRole or in Roles of the watched namespaces. */}}
{{- define "runnel-operator.rules" -}}
- apiGroups: [runnel.dev]
  resources: [flinkjobs, flinksessions, agents]
  verbs: [get, list, watch, update, patch]
- apiGroups: [runnel.dev]
  resources: [flinkjobs/status, flinksessions/status, agents/status]
  verbs: [get, update, patch]
- apiGroups: [runnel.dev]
  resources: [flinkjobs/finalizers, flinksessions/finalizers]
  verbs: [update]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [""]
  resources: [services, configmaps]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, delete]
# Whether a Secret a job refers to exists (values are never read into status or logs), and
# the REST token Secret of each cluster, which the operator makes and reads.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create]
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch, create, update, patch, delete]
# High-availability Leases of the jobs' JobManagers, deleted with the job.
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, delete]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}
