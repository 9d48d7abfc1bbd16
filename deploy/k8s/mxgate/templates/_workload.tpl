{{/*
The resources of a service: its ConfigMap, Deployment, optional
PodDisruptionBudget and, for the four scoring services, a headless Service.
Each takes the context dict of _helpers.tpl plus:
  ports         list of dict "name" "port": the container ports
  healthPort    the port of grpc.health.v1.Health (probes)
  env           rendered YAML list items: the service's own variables
  volumes       rendered YAML list items: the service's own volumes
  volumeMounts  rendered YAML list items: their mounts
*/}}

{{/* The ConfigMap holding /etc/mxgate/<component>.yaml. */}}
{{- define "mxgate.configMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "mxgate.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "mxgate.labels" . | nindent 4 }}
data:
  {{ .component }}.yaml: |
    {{- include "mxgate.configFile" .values.config | nindent 4 }}
{{- end }}

{{/* Environment variables every service reads. */}}
{{- define "mxgate.commonEnv" -}}
- name: HOST_IP
  valueFrom:
    fieldRef:
      fieldPath: status.hostIP
- name: MXGATE_LOG_FORMAT
  value: {{ .root.Values.log.format | quote }}
- name: MXGATE_LOG_LEVEL
  value: {{ .root.Values.log.level | quote }}
{{- with .root.Values.otlp.endpoint }}
- name: MXGATE_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- if .root.Values.otlp.insecure }}
- name: MXGATE_OTLP_INSECURE
  value: "true"
{{- end }}
{{- if and .values.resources .values.resources.limits .values.resources.limits.memory }}
- name: GOMEMLIMIT
  valueFrom:
    resourceFieldRef:
      containerName: {{ .component }}
      resource: limits.memory
{{- end }}
{{- end }}

{{/* The Deployment of one service. */}}
{{- define "mxgate.deployment" -}}
{{- $ctx := . }}
{{- $root := .root }}
{{- $v := .values }}
{{- $probes := mergeOverwrite (deepCopy $root.Values.probes) (deepCopy ($v.probes | default dict)) }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "mxgate.componentName" $ctx }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "mxgate.labels" $ctx | nindent 4 }}
  {{- with $v.deploymentAnnotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  replicas: {{ $v.replicas }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "mxgate.selectorLabels" $ctx | nindent 6 }}
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 0
  template:
    metadata:
      labels:
        {{- include "mxgate.labels" $ctx | nindent 8 }}
        {{- with $v.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "mxgate.configFile" $v.config | sha256sum }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "mxgate.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- /* Service links would add MXGATE_EDGE_SMTP_PORT-style variables to the
      services' own MXGATE_ namespace (release "mxgate"). */}}
      enableServiceLinks: false
      {{- with $root.Values.images.pullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.priorityClassName }}
      priorityClassName: {{ . }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
      containers:
        - name: {{ $ctx.component }}
          image: {{ include "mxgate.image" $ctx | quote }}
          imagePullPolicy: {{ $root.Values.images.pullPolicy }}
          args:
            - -config
            - /etc/mxgate/{{ $ctx.component }}.yaml
          ports:
            {{- range $ctx.ports }}
            - name: {{ .name }}
              containerPort: {{ .port }}
              protocol: TCP
            {{- end }}
          env:
            {{- include "mxgate.commonEnv" $ctx | nindent 12 }}
            {{- with $ctx.env }}
            {{- . | trim | nindent 12 }}
            {{- end }}
            {{- with $v.extraEnv }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          startupProbe:
            grpc:
              port: {{ $ctx.healthPort }}
              {{- with $probes.startup.service }}
              service: {{ . }}
              {{- end }}
            {{- omit $probes.startup "service" | toYaml | nindent 12 }}
          readinessProbe:
            grpc:
              port: {{ $ctx.healthPort }}
              {{- with $probes.readiness.service }}
              service: {{ . }}
              {{- end }}
            {{- omit $probes.readiness "service" | toYaml | nindent 12 }}
          livenessProbe:
            grpc:
              port: {{ $ctx.healthPort }}
              {{- with $probes.liveness.service }}
              service: {{ . }}
              {{- end }}
            {{- omit $probes.liveness "service" | toYaml | nindent 12 }}
          {{- with $v.preStopSleepSeconds }}
          lifecycle:
            preStop:
              sleep:
                seconds: {{ . }}
          {{- end }}
          {{- with $v.resources }}
          resources:
            {{- toYaml . | nindent 12 }}
          {{- end }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: config
              mountPath: /etc/mxgate/{{ $ctx.component }}.yaml
              subPath: {{ $ctx.component }}.yaml
              readOnly: true
            - name: tmp
              mountPath: /tmp
            {{- with $ctx.volumeMounts }}
            {{- . | trim | nindent 12 }}
            {{- end }}
            {{- with $v.extraVolumeMounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        - name: config
          configMap:
            name: {{ include "mxgate.componentName" $ctx }}
        - name: tmp
          {{- toYaml $root.Values.tmpVolume | nindent 10 }}
        {{- with $ctx.volumes }}
        {{- . | trim | nindent 8 }}
        {{- end }}
        {{- with $v.extraVolumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- range . }}
        {{- $c := deepCopy . }}
        {{- if not $c.labelSelector }}
        {{- $_ := set $c "labelSelector" (dict "matchLabels" (include "mxgate.selectorLabels" $ctx | fromYaml)) }}
        {{- end }}
        {{- toYaml (list $c) | nindent 8 }}
        {{- end }}
      {{- end }}
{{- end }}

{{/*
The headless Service of a scoring service: DNS answers with the address of
every ready pod, which the edge's gRPC round_robin balancer spreads calls over.
*/}}
{{- define "mxgate.headlessService" -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "mxgate.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "mxgate.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  clusterIP: None
  selector:
    {{- include "mxgate.selectorLabels" . | nindent 4 }}
  ports:
    - name: grpc
      port: {{ .healthPort }}
      targetPort: grpc
      protocol: TCP
{{- end }}

{{/* A PodDisruptionBudget when enabled and the service has more than one replica. */}}
{{- define "mxgate.pdb" -}}
{{- if and .root.Values.podDisruptionBudget.enabled (gt (int .values.replicas) 1) }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "mxgate.componentName" . }}
  namespace: {{ .root.Release.Namespace }}
  labels:
    {{- include "mxgate.labels" . | nindent 4 }}
spec:
  maxUnavailable: {{ .root.Values.podDisruptionBudget.maxUnavailable }}
  selector:
    matchLabels:
      {{- include "mxgate.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end }}

{{/*
The four scoring services share one shape: ConfigMap, Deployment, headless
Service and PDB. Takes the context dict with env, volumes and volumeMounts.
*/}}
{{- define "mxgate.scoringService" -}}
{{- $port := include "mxgate.port" .component | int }}
{{- $ctx := dict "root" .root "component" .component "values" .values "env" .env "volumes" .volumes "volumeMounts" .volumeMounts "ports" (list (dict "name" "grpc" "port" $port)) "healthPort" $port }}
{{- include "mxgate.configMap" $ctx }}
---
{{ include "mxgate.deployment" $ctx }}
---
{{ include "mxgate.headlessService" $ctx }}
{{- with include "mxgate.pdb" $ctx }}
---
{{- . }}
{{- end }}
{{- end }}
