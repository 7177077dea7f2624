{{/* Chart name, truncated to the 63 characters of a label value. */}}
{{- define "stepscale.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects. */}}
{{- define "stepscale.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "stepscale.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "stepscale.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the operator's pods. */}}
{{- define "stepscale.selectorLabels" -}}
app.kubernetes.io/name: {{ include "stepscale.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The ServiceAccount the operator runs as. */}}
{{- define "stepscale.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "stepscale.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
What the operator does in the namespaces it watches (all of them through a
ClusterRole, or each listed one through a Role). Keep in sync with
host/tests/chart.rs, which fails on any grant beyond this list.
*/}}
{{- define "stepscale.workloadRules" -}}
- apiGroups: ["autoscaling"]
  resources: ["horizontalpodautoscalers"]
  verbs: ["get", "list", "patch"]
- apiGroups: ["keda.sh"]
  resources: ["scaledobjects"]
  verbs: ["get", "list", "patch"]
# The target's pod template and replica counts (the API server serves the
# /scale of these kinds from the object, so the operator reads them there),
# listed once per namespace and tick rather than read one by one.
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets"]
  verbs: ["list"]
{{- range .Values.rbac.extraScaleTargets }}
{{- $resource := required "rbac.extraScaleTargets[].resource is required" .resource }}
- apiGroups: [{{ required "rbac.extraScaleTargets[].apiGroup is required" .apiGroup | quote }}]
  resources: [{{ $resource | quote }}, {{ printf "%s/scale" $resource | quote }}]
  verbs: ["get"]
{{- end }}
- apiGroups: ["stepscale.io"]
  resources: ["scalingrecommendations"]
  verbs: ["list", "watch", "create", "patch", "delete"]
- apiGroups: ["stepscale.io"]
  resources: ["scalingrecommendations/status"]
  verbs: ["patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/* Checks of combinations the schema cannot express. */}}
{{- define "stepscale.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 needs leaderElection.enabled=true: without a leader every replica would apply and roll back" }}
{{- end }}
{{- if and (ne .Values.llm.provider "none") (not .Values.llm.secretName) }}
{{- fail (printf "llm.provider is %s: set llm.secretName to the Secret holding its API key" .Values.llm.provider) }}
{{- end }}
{{- if and (ne .Values.llm.provider "none") (not .Values.llm.model) }}
{{- fail (printf "llm.provider is %s: set llm.model to the model to ask" .Values.llm.provider) }}
{{- end }}
{{- if and .Values.license.secretName (not .Values.license.publicKey) }}
{{- fail "license.secretName is set but license.publicKey is empty: the license cannot be verified without the vendor's public key" }}
{{- end }}
{{- end }}
