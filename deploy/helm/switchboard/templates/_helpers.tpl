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

{{/* Whether /data is a PersistentVolumeClaim: the embedded NATS with persistence on. */}}
{{- define "switchboard.persistent" -}}
{{- if and .Values.persistence.enabled .Values.embeddedNats }}true{{ end }}
{{- end }}

{{/*
Fails unless exactly one NATS is chosen (nats.enabled, natsUrl or embeddedNats) and, with the
embedded one, there is one instance.
*/}}
{{- define "switchboard.validateNats" -}}
{{- $chosen := list }}
{{- if .Values.nats.enabled }}{{ $chosen = append $chosen "nats.enabled" }}{{ end }}
{{- if .Values.natsUrl }}{{ $chosen = append $chosen "natsUrl" }}{{ end }}
{{- if .Values.embeddedNats }}{{ $chosen = append $chosen "embeddedNats" }}{{ end }}
{{- if not $chosen }}
{{- fail "nats.enabled=false needs natsUrl (an outside NATS with JetStream, e.g. nats://nats.nats:4222), or embeddedNats=true for one instance with the embedded NATS server" }}
{{- end }}
{{- if gt (len $chosen) 1 }}
{{- fail (printf "%s: choose one NATS (nats.enabled=false to use natsUrl or embeddedNats)" (join " and " $chosen)) }}
{{- end }}
{{- if and .Values.embeddedNats (ne (int .Values.replicaCount) 1) }}
{{- fail "embeddedNats needs replicaCount=1: with the embedded NATS each instance would keep its own state (use nats.enabled or natsUrl for more)" }}
{{- end }}
{{- end }}

{{/*
The NATS chart's client Service, named as that chart names it: nats.service.name, else its
full name (nats.fullnameOverride, else the release name, followed by -nats unless it already
holds the chart name), in nats.namespaceOverride or the release's namespace.
*/}}
{{- define "switchboard.natsService" -}}
{{- $n := .Values.nats }}
{{- $name := "" }}
{{- if and $n.service $n.service.name }}
{{- $name = $n.service.name }}
{{- else if $n.fullnameOverride }}
{{- $name = $n.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $chart := default "nats" $n.nameOverride }}
{{- if contains $chart .Release.Name }}
{{- $name = .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name = printf "%s-%s" .Release.Name $chart | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- printf "%s.%s" $name (default .Release.Namespace $n.namespaceOverride) }}
{{- end }}

{{/* SWITCHBOARD_NATS_URL: the NATS chart's client Service, natsUrl, or empty (embedded). */}}
{{- define "switchboard.natsUrl" -}}
{{- if .Values.nats.enabled }}
{{- $port := 4222 }}
{{- with .Values.nats.config }}{{ with .nats }}{{ with .port }}{{ $port = . }}{{ end }}{{ end }}{{ end }}
{{- printf "nats://%s:%v" (include "switchboard.natsService" .) $port }}
{{- else }}
{{- .Values.natsUrl }}
{{- end }}
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
