{{/*
Each service's own environment variables and volumes. Each define takes the
context dict of _helpers.tpl and renders YAML list items. Variables named in
the values are set only when their value is non-empty, so that an unset value
keeps the service's built-in default (or the key of its config file).
*/}}

{{- define "mxgate.edge.env" -}}
- name: MXGATE_EDGE_LISTEN
  value: {{ include "mxgate.listen" (dict "root" .root "port" (include "mxgate.port" "smtp")) | quote }}
- name: MXGATE_EDGE_HEALTH_LISTEN
  value: {{ include "mxgate.listen" (dict "root" .root "port" (include "mxgate.port" "edge-health")) | quote }}
- name: MXGATE_EDGE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- with .values.hostname }}
- name: MXGATE_EDGE_HOSTNAME
  value: {{ . | quote }}
{{- end }}
{{- with .values.maxMessageSize }}
- name: MXGATE_EDGE_MAX_MESSAGE_SIZE
  value: {{ include "mxgate.scalar" . | quote }}
{{- end }}
{{- range list "reputation" "policy" "antivirus" "classifier" }}
- name: MXGATE_{{ upper . }}_ADDR
  value: {{ include "mxgate.grpcTarget" (dict "root" $.root "component" .) | quote }}
{{- end }}
{{- if .values.tls.secretName }}
- name: MXGATE_EDGE_TLS_CERT
  value: /etc/mxgate/tls/tls.crt
- name: MXGATE_EDGE_TLS_KEY
  value: /etc/mxgate/tls/tls.key
{{- end }}
{{- end }}

{{- define "mxgate.edge.volumes" -}}
{{- if .values.tls.secretName }}
- name: tls
  secret:
    secretName: {{ .values.tls.secretName }}
    defaultMode: 0440
{{- end }}
{{- end }}

{{- define "mxgate.edge.volumeMounts" -}}
{{- if .values.tls.secretName }}
- name: tls
  mountPath: /etc/mxgate/tls
  readOnly: true
{{- end }}
{{- end }}

{{- define "mxgate.reputation.env" -}}
{{- $v := .values }}
{{- $redis := .root.Values.redis }}
- name: MXGATE_REPUTATION_LISTEN
  value: {{ include "mxgate.listen" (dict "root" .root "port" (include "mxgate.port" "reputation")) | quote }}
{{- with $redis.addr }}
- name: MXGATE_REDIS_ADDR
  value: {{ . | quote }}
{{- end }}
{{- with $redis.prefix }}
- name: MXGATE_REDIS_PREFIX
  value: {{ . | quote }}
{{- end }}
{{- with $redis.db }}
- name: MXGATE_REDIS_DB
  value: {{ include "mxgate.scalar" . | quote }}
{{- end }}
{{- with $redis.username }}
- name: MXGATE_REDIS_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- if $redis.passwordSecret.name }}
- name: MXGATE_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $redis.passwordSecret.name }}
      key: {{ $redis.passwordSecret.key }}
{{- end }}
{{- with $v.allow }}
- name: MXGATE_REPUTATION_ALLOW
  value: {{ join "," . | quote }}
{{- end }}
{{- with $v.block }}
- name: MXGATE_REPUTATION_BLOCK
  value: {{ join "," . | quote }}
{{- end }}
{{- with $v.maxConnections }}
- name: MXGATE_REPUTATION_MAX_CONNECTIONS
  value: {{ include "mxgate.scalar" . | quote }}
{{- end }}
{{- with $v.leaseTTL }}
- name: MXGATE_REPUTATION_LEASE_TTL
  value: {{ . | quote }}
{{- end }}
{{- with $v.spamThreshold }}
- name: MXGATE_REPUTATION_SPAM_THRESHOLD
  value: {{ include "mxgate.scalar" . | quote }}
{{- end }}
{{- with $v.spamWindow }}
- name: MXGATE_REPUTATION_SPAM_WINDOW
  value: {{ . | quote }}
{{- end }}
{{- with $v.blockFor }}
- name: MXGATE_REPUTATION_BLOCK_FOR
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{- define "mxgate.policy.env" -}}
- name: MXGATE_POLICY_LISTEN
  value: {{ include "mxgate.listen" (dict "root" .root "port" (include "mxgate.port" "policy")) | quote }}
{{- end }}

{{- define "mxgate.antivirus.env" -}}
{{- $v := .values }}
- name: MXGATE_ANTIVIRUS_LISTEN
  value: {{ include "mxgate.listen" (dict "root" .root "port" (include "mxgate.port" "antivirus")) | quote }}
{{- with $v.clamd.addr }}
- name: MXGATE_CLAMD_ADDR
  value: {{ . | quote }}
{{- end }}
{{- with $v.clamd.timeout }}
- name: MXGATE_CLAMD_TIMEOUT
  value: {{ . | quote }}
{{- end }}
{{- if $v.signatures.volume }}
- name: MXGATE_ANTIVIRUS_SIGNATURES
  value: /var/lib/mxgate/signatures
{{- end }}
{{- end }}

{{- define "mxgate.antivirus.volumes" -}}
{{- with .values.signatures.volume }}
- name: signatures
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "mxgate.antivirus.volumeMounts" -}}
{{- if .values.signatures.volume }}
- name: signatures
  mountPath: /var/lib/mxgate/signatures
  readOnly: true
{{- end }}
{{- end }}

{{- define "mxgate.classifier.env" -}}
{{- $v := .values }}
{{- $nats := .root.Values.nats }}
- name: MXGATE_CLASSIFIER_LISTEN
  value: {{ include "mxgate.listen" (dict "root" .root "port" (include "mxgate.port" "classifier")) | quote }}
{{- if $nats.urlSecret.name }}
- name: MXGATE_NATS_URL
  valueFrom:
    secretKeyRef:
      name: {{ $nats.urlSecret.name }}
      key: {{ $nats.urlSecret.key }}
{{- else if $nats.url }}
- name: MXGATE_NATS_URL
  value: {{ $nats.url | quote }}
{{- end }}
{{- with $v.fpdb.stream }}
- name: MXGATE_FPDB_STREAM
  value: {{ . | quote }}
{{- end }}
{{- with $v.fpdb.subject }}
- name: MXGATE_FPDB_SUBJECT
  value: {{ . | quote }}
{{- end }}
{{- if $v.model.volume }}
- name: MXGATE_CLASSIFIER_MODEL
  value: {{ printf "/var/lib/mxgate/model/%s" $v.model.file | quote }}
{{- end }}
{{- end }}

{{- define "mxgate.classifier.volumes" -}}
{{- with .values.model.volume }}
- name: model
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{- define "mxgate.classifier.volumeMounts" -}}
{{- if .values.model.volume }}
- name: model
  mountPath: /var/lib/mxgate/model
  readOnly: true
{{- end }}
{{- end }}
