{{/* The release's name for its objects: <release>-hawser, or the release name when it already says hawser. */}}
{{- define "hawser.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{ end }}
{{- end }}

{{- define "hawser.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "hawser.tlsSecretName" -}}
{{ .Values.tls.secretName | default (printf "%s-tls" (include "hawser.fullname" .)) }}
{{- end }}

{{/* The admin port as a number, and the probes' URL base inside the container. */}}
{{- define "hawser.adminURL" -}}
http://localhost:{{ .Values.admin.port | int }}
{{- end }}

{{/*
hawser's configuration (docs/configuration.md), built from the values as a
dictionary and printed with toYaml; extraConfig is merged over it.
*/}}
{{- define "hawser.config" -}}
{{- $v := .Values -}}
{{- $plain := dict "mode" "disabled" -}}
{{- $c := dict "drain_timeout" $v.drainTimeout -}}
{{- $_ := set $c "node" (dict "service" $v.mesh.service "namespace" $v.mesh.namespace
      "identity" (printf "spiffe://%s/%s" $v.mesh.namespace $v.mesh.service)) -}}
{{- $_ := set $c "admin" (dict "address" (printf "%s:%d" (ternary "0.0.0.0" "127.0.0.1" $v.admin.exposed) ($v.admin.port | int))) -}}
{{- if $v.tls.enabled -}}
{{- $_ := set $c "tls" (dict "cert" "/etc/hawser/tls/cert.pem" "key" "/etc/hawser/tls/key.pem" "ca" "/etc/hawser/tls/ca.pem") -}}
{{- end -}}
{{- if $v.inbound.enabled -}}
{{- $in := dict "name" $v.mesh.service "protocol" $v.inbound.protocol
      "listen" (printf "0.0.0.0:%d" ($v.inbound.port | int)) "app" (printf "127.0.0.1:%d" ($v.inbound.appPort | int)) -}}
{{- if not $v.tls.enabled -}}{{- $_ := set $in "tls" $plain -}}
{{- else if $v.inbound.allow -}}{{- $_ := set $in "authorization" (dict "allow" $v.inbound.allow) -}}
{{- end -}}
{{- $_ := set $c "inbound" (list $in) -}}
{{- end -}}
{{- $out := dict -}}
{{- if $v.outbound.httpProxyPort -}}
{{- $_ := set $out "http_proxy" (printf "127.0.0.1:%d" ($v.outbound.httpProxyPort | int)) -}}
{{- end -}}
{{- $services := list -}}
{{- range $v.outbound.services -}}
{{- $s := deepCopy . -}}
{{- if and (not $v.tls.enabled) (not (hasKey $s "tls")) -}}{{- $_ := set $s "tls" $plain -}}{{- end -}}
{{- $services = append $services $s -}}
{{- end -}}
{{- if $services -}}{{- $_ := set $out "services" $services -}}{{- end -}}
{{- if $out -}}{{- $_ := set $c "outbound" $out -}}{{- end -}}
{{- if $v.capture.enabled -}}
{{- $cap := dict "enabled" true "forwarder" (include "hawser.forwarderAddress" .) -}}
{{- $_ := set $c "capture" $cap -}}
{{- end -}}
{{- toYaml (mustMergeOverwrite $c (deepCopy $v.extraConfig)) -}}
{{- end }}

{{/*
The sidecar container, a list item for a pod's `containers`:
  containers:
    - name: app
      ...
    {{- include "hawser.container" . | nindent 4 }}
*/}}
{{- define "hawser.container" -}}
- name: hawser
  image: {{ printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["proxy", "--config", "/etc/hawser/config/hawser.yaml"]
  {{- with .Values.env }}
  env:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - {name: hawser-admin, containerPort: {{ .Values.admin.port | int }}}
    {{- if .Values.inbound.enabled }}
    - {name: hawser-inbound, containerPort: {{ .Values.inbound.port | int }}}
    {{- end }}
  # App Mesh's health check, unchanged: the image has sh, curl and grep for it.
  startupProbe:
    exec: {command: ["sh", "-c", "curl -s {{ include "hawser.adminURL" . }}/server_info | grep state | grep -q LIVE"]}
    periodSeconds: 1
    failureThreshold: 30
  livenessProbe:
    exec: {command: ["sh", "-c", "curl -s {{ include "hawser.adminURL" . }}/server_info | grep state | grep -q LIVE"]}
    periodSeconds: 10
  readinessProbe:
    exec: {command: ["curl", "-sf", "{{ include "hawser.adminURL" . }}/ready"]}
    periodSeconds: 5
  securityContext:
    runAsUser: 1337
    runAsGroup: 1337
    runAsNonRoot: true
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    capabilities: {drop: ["ALL"]}
  {{- with .Values.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
    - {name: hawser-config, mountPath: /etc/hawser/config, readOnly: true}
    {{- if .Values.tls.enabled }}
    - {name: hawser-tls, mountPath: /etc/hawser/tls, readOnly: true}
    {{- end }}
{{- end }}

{{/* The sidecar's volumes, list items for a pod's `volumes`. */}}
{{- define "hawser.volumes" -}}
- name: hawser-config
  configMap: {name: {{ include "hawser.fullname" . }}}
{{- if .Values.tls.enabled }}
- name: hawser-tls
  secret:
    secretName: {{ include "hawser.tlsSecretName" . }}
    defaultMode: {{ .Values.tls.defaultMode | int }}
    items:
      - {key: {{ .Values.tls.certKey }}, path: cert.pem}
      - {key: {{ .Values.tls.keyKey }}, path: key.pem}
      - {key: {{ .Values.tls.caKey }}, path: ca.pem}
{{- end }}
{{- end }}

{{/* Pod annotations: a new configuration rolls the pods (hawser reads it at start). */}}
{{- define "hawser.podAnnotations" -}}
checksum/hawser-config: {{ include "hawser.config" . | sha256sum }}
{{- end }}

{{/* The pod's securityContext: group 1337 may read the certificate files (tls.defaultMode). */}}
{{- define "hawser.podSecurityContext" -}}
fsGroup: 1337
{{- end }}

{{/* The forwarder's objects: <release fullname>-forwarder. */}}
{{- define "hawser.forwarderName" -}}
{{ printf "%s-forwarder" (include "hawser.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Where sidecars send capture batches: capture.forwarder, else this release's forwarder Service. */}}
{{- define "hawser.forwarderAddress" -}}
{{- if .Values.capture.forwarder }}{{ .Values.capture.forwarder }}
{{- else }}{{ printf "%s.%s.svc:%d" (include "hawser.forwarderName" .) .Release.Namespace (.Values.forwarder.port | int) }}
{{- end }}
{{- end }}

{{/*
The forwarder's configuration (docs/capture.md#the-forwarder), built from
forwarder.* as a dictionary; forwarder.extraConfig is merged over it.
*/}}
{{- define "hawser.forwarderConfig" -}}
{{- $f := .Values.forwarder -}}
{{- $c := dict "listen" (printf "0.0.0.0:%d" ($f.port | int)) "drain_timeout" $f.drainTimeout
      "admin" (dict "address" (printf "0.0.0.0:%d" ($f.adminPort | int))) -}}
{{- if $f.tls.enabled -}}
{{- $_ := set $c "tls" (dict "cert" "/etc/hawser/tls/cert.pem" "key" "/etc/hawser/tls/key.pem" "ca" "/etc/hawser/tls/ca.pem") -}}
{{- $_ := set $c "authorization" (dict "allow" ($f.allow | default (list (printf "spiffe://%s/*" .Values.mesh.namespace)))) -}}
{{- end -}}
{{- $s := dict "spool" "/var/lib/hawser/spool" "max_spool_bytes" $f.storage.maxSpoolBytes -}}
{{- if $f.storage.s3.bucket -}}
{{- $s3 := dict "bucket" $f.storage.s3.bucket -}}
{{- with $f.storage.s3.region }}{{ $_ := set $s3 "region" . }}{{ end -}}
{{- with $f.storage.s3.endpoint }}{{ $_ := set $s3 "endpoint" . }}{{ end -}}
{{- if $f.storage.s3.pathStyle }}{{ $_ := set $s3 "path_style" true }}{{ end -}}
{{- $_ := set $s "s3" $s3 -}}
{{- else -}}
{{- $_ := set $s "directory" "/var/lib/hawser/archive" -}}
{{- end -}}
{{- with $f.storage.prefix }}{{ $_ := set $s "prefix" . }}{{ end -}}
{{- $_ := set $c "storage" $s -}}
{{- $r := dict -}}
{{- with $f.redact.headers }}{{ $_ := set $r "headers" . }}{{ end -}}
{{- with $f.redact.jsonFields }}{{ $_ := set $r "json_fields" . }}{{ end -}}
{{- if $r }}{{ $_ := set $c "redact" $r }}{{ end -}}
{{- toYaml (mustMergeOverwrite $c (deepCopy $f.extraConfig)) -}}
{{- end }}
