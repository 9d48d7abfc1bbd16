{{/*
Names, labels, images and addresses shared by every template.

Component templates receive a context dict:
  root       the top-level context ($)
  component  the service name: edge-smtp, reputation, policy, antivirus, classifier
  values     the service's values block (.Values.edge, .Values.reputation, ...)
*/}}

{{/* The chart name, or nameOverride. */}}
{{- define "mxgate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every resource name: fullnameOverride, else the release name
when it already contains the chart name, else "<release>-<chart>".
Truncated so that "<prefix>-<component>" stays a valid 63-character DNS label.
*/}}
{{- define "mxgate.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Chart name and version, for the helm.sh/chart label. */}}
{{- define "mxgate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The name of a component's Deployment, Service and ConfigMap. Takes the context dict. */}}
{{- define "mxgate.componentName" -}}
{{- printf "%s-%s" (include "mxgate.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels. Takes the context dict; component may be empty. */}}
{{- define "mxgate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mxgate.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end }}

{{/* Common labels. Takes the context dict; component may be empty. */}}
{{- define "mxgate.labels" -}}
helm.sh/chart: {{ include "mxgate.chart" .root }}
{{ include "mxgate.selectorLabels" . }}
app.kubernetes.io/version: {{ include "mxgate.tag" .root | trunc 63 | trimSuffix "-" | quote }}
app.kubernetes.io/part-of: mxgate
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{/* The image tag: images.tag, else the chart's appVersion. Takes the root context. */}}
{{- define "mxgate.tag" -}}
{{- .Values.images.tag | default .Chart.AppVersion | toString }}
{{- end }}

{{/* The image of a component: <registry>/mxgate-<component>:<tag>. Takes the context dict. */}}
{{- define "mxgate.image" -}}
{{- $registry := .root.Values.images.registry | trimSuffix "/" }}
{{- $repo := printf "mxgate-%s" .component }}
{{- if $registry }}
{{- $repo = printf "%s/%s" $registry $repo }}
{{- end }}
{{- printf "%s:%s" $repo (include "mxgate.tag" .root) }}
{{- end }}

{{/* The ServiceAccount of every pod. Takes the root context. */}}
{{- define "mxgate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mxgate.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
The fixed container ports of the services (the same numbers as the local
profile). Usage: include "mxgate.port" "reputation" | int
*/}}
{{- define "mxgate.port" -}}
{{- get (dict "smtp" "2525" "edge-health" "7100" "reputation" "7101" "policy" "7102" "antivirus" "7103" "classifier" "7104") . }}
{{- end }}

{{/*
A listen address: listenHost and a port, bracketing an IPv6 host.
Takes dict "root" $ "port" <port>.
*/}}
{{- define "mxgate.listen" -}}
{{- $host := .root.Values.listenHost | toString }}
{{- if contains ":" $host }}
{{- printf "[%s]:%s" $host (toString .port) }}
{{- else }}
{{- printf "%s:%s" $host (toString .port) }}
{{- end }}
{{- end }}

{{/*
The gRPC target of a scoring service as the edge dials it:
dns:///<service>.<namespace>.svc.<clusterDomain>:<port>. The Service is
headless, so DNS returns one address per ready pod and the client's
round_robin policy spreads calls over them. Takes the context dict.
*/}}
{{- define "mxgate.grpcTarget" -}}
{{- printf "dns:///%s.%s.svc.%s:%s" (include "mxgate.componentName" .) .root.Release.Namespace .root.Values.clusterDomain (include "mxgate.port" .component) }}
{{- end }}

{{/*
The YAML config file of a component: a string is used as it is, a map is
rendered as YAML. Takes the config value.
*/}}
{{- define "mxgate.configFile" -}}
{{- if kindIs "string" . }}
{{- . }}
{{- else if . }}
{{- toYaml . }}
{{- else }}
{{- "{}" }}
{{- end }}
{{- end }}

{{/*
A scalar value as an environment variable string: numbers are written as
integers (YAML numbers reach templates as float64), strings unchanged.
*/}}
{{- define "mxgate.scalar" -}}
{{- if or (kindIs "float64" .) (kindIs "int64" .) (kindIs "int" .) }}
{{- . | int64 | toString }}
{{- else }}
{{- . | toString }}
{{- end }}
{{- end }}
