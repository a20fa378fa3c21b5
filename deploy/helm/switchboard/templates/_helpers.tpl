{{/* The chart's name. */}}
{{- define "switchboard.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of every object, and so the Service's name: the host dynamic services reach the
hub at. "helm install switchboard" gives "switchboard".
*/}}
{{- define "switchboard.fullname" -}}
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

{{- define "switchboard.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "switchboard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "switchboard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "switchboard.labels" -}}
helm.sh/chart: {{ include "switchboard.chart" . }}
{{ include "switchboard.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: hub
{{- end }}

{{- define "switchboard.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "switchboard.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the tokens: existingSecret, or the one this chart makes. */}}
{{- define "switchboard.secretName" -}}
{{- default (include "switchboard.fullname" .) .Values.existingSecret }}
{{- end }}

{{/* Whether /data is a PersistentVolumeClaim: persistence on and no outside NATS. */}}
{{- define "switchboard.persistent" -}}
{{- if and .Values.persistence.enabled (not .Values.natsUrl) }}true{{ end }}
{{- end }}

{{/*
The pod's annotations: podAnnotations, with linkerd.io/inject: enabled added when
linkerdProxy.enabled and removed when not.
*/}}
{{- define "switchboard.podAnnotations" -}}
{{- $a := deepCopy (.Values.podAnnotations | default dict) }}
{{- if .Values.linkerdProxy.enabled }}
{{- $_ := set $a "linkerd.io/inject" "enabled" }}
{{- else }}
{{- $_ := unset $a "linkerd.io/inject" }}
{{- end }}
{{- with $a }}
{{- toYaml . }}
{{- end }}
{{- end }}
