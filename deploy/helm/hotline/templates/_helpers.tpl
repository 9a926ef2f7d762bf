{{/* The four deployables, in the order of the system's shape. */}}
{{- define "hotline.services" -}}
intake sessions followup console
{{- end }}

{{- define "hotline.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hotline.fullname" -}}
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

{{/* "<fullname>-<service>"; call with (dict "root" $ "name" "intake") */}}
{{- define "hotline.componentName" -}}
{{- printf "%s-%s" (include "hotline.fullname" .root) .name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hotline.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "hotline.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hotline
{{- end }}

{{/* call with (dict "root" $ "name" "intake") */}}
{{- define "hotline.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hotline.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "hotline.componentLabels" -}}
{{ include "hotline.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "hotline.image" -}}
{{- $svc := index .root.Values .name }}
{{- $tag := $svc.image.tag | default .root.Values.image.tag | default .root.Chart.AppVersion }}
{{- $registry := .root.Values.image.registry | trimSuffix "/" }}
{{- if $registry }}
{{- printf "%s/%s:%s" $registry $svc.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" $svc.image.repository $tag }}
{{- end }}
{{- end }}

{{/* A service's in-cluster base URL; call with (dict "root" $ "name" "intake") */}}
{{- define "hotline.url" -}}
{{- $svc := index .root.Values .name }}
{{- printf "http://%s:%v" (include "hotline.componentName" .) $svc.port }}
{{- end }}

{{- define "hotline.saslEnabled" -}}
{{- if hasPrefix "SASL" .Values.kafka.securityProtocol }}true{{ end }}
{{- end }}

{{- define "hotline.tlsEnabled" -}}
{{- if hasSuffix "SSL" .Values.kafka.securityProtocol }}true{{ end }}
{{- end }}

{{- define "hotline.consolePublicUrl" -}}
{{- if .Values.console.publicUrl }}
{{- .Values.console.publicUrl }}
{{- else if .Values.ingress.consoleHost }}
{{- printf "https://%s" .Values.ingress.consoleHost }}
{{- end }}
{{- end }}

{{/* Values that cannot work together stop the release with one clear line. */}}
{{- define "hotline.validate" -}}
{{- $protocols := list "PLAINTEXT" "SSL" "SASL_PLAINTEXT" "SASL_SSL" }}
{{- if not (has .Values.kafka.securityProtocol $protocols) }}
{{- fail (printf "kafka.securityProtocol must be one of %s" (join ", " $protocols)) }}
{{- end }}
{{- if not .Values.kafka.bootstrapServers }}
{{- fail "kafka.bootstrapServers is required" }}
{{- end }}
{{- if include "hotline.saslEnabled" . }}
{{- range $name := splitList " " (include "hotline.services" .) }}
{{- $svc := index $.Values $name }}
{{- if not ($svc.kafkaSasl.username | default $.Values.kafka.sasl.username) }}
{{- fail (printf "kafka.sasl.username (or %s.kafkaSasl.username) is required with %s" $name $.Values.kafka.securityProtocol) }}
{{- end }}
{{- if not ($svc.kafkaSasl.existingSecret | default $.Values.kafka.sasl.existingSecret) }}
{{- fail (printf "kafka.sasl.existingSecret (or %s.kafkaSasl.existingSecret) is required with %s" $name $.Values.kafka.securityProtocol) }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.kafka.tls.caSecret .Values.kafka.tls.caConfigMap }}
{{- fail "set kafka.tls.caSecret or kafka.tls.caConfigMap, not both" }}
{{- end }}
{{- if not .Values.mongodb.existingSecret }}
{{- fail "mongodb.existingSecret is required: a Secret with the MongoDB connection string" }}
{{- end }}
{{- if not .Values.auth.existingSecret }}
{{- fail "auth.existingSecret is required: a Secret with the master key" }}
{{- end }}
{{- if and .Values.auth.jwksUrl (not .Values.auth.jwtIssuer) }}
{{- fail "auth.jwtIssuer is required with auth.jwksUrl" }}
{{- end }}
{{- if eq (empty .Values.centers.existingSecret) (empty .Values.centers.existingConfigMap) }}
{{- fail "set exactly one of centers.existingSecret and centers.existingConfigMap" }}
{{- end }}
{{- end }}
