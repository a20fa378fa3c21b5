{{/*
The service's name, checked: the Deployment, the Service and the ServiceAccount are all named
after it, so it must be the same for all three and match ^[a-z0-9]+$.
*/}}
{{- define "dynamic-service.name" -}}
{{- $name := .Values.name | toString }}
{{- if not (regexMatch "^[a-z0-9]+$" $name) }}
{{- fail (printf "name %q is invalid: the service name and service account name must be the same and match ^[a-z0-9]+$ (lower-case letters and digits only)" $name) }}
{{- end }}
{{- if not (regexMatch "^[a-z]" $name) }}
{{- fail (printf "name %q is invalid: it must start with a letter, as a Service name must" $name) }}
{{- end }}
{{- if gt (len $name) 63 }}
{{- fail (printf "name %q is invalid: at most 63 characters" $name) }}
{{- end }}
{{- $name }}
{{- end }}

{{- define "dynamic-service.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "dynamic-service.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dynamic-service.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "dynamic-service.labels" -}}
helm.sh/chart: {{ include "dynamic-service.chart" . }}
{{ include "dynamic-service.selectorLabels" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: dynamic-service
app.kubernetes.io/part-of: switchboard
{{- end }}

{{- define "dynamic-service.localNamespace" -}}
{{- .Values.localNamespace | default .Release.Namespace }}
{{- end }}

{{- define "dynamic-service.platformNamespace" -}}
{{- .Values.platformNamespace | default .Release.Namespace }}
{{- end }}

{{- define "dynamic-service.switchboardUrl" -}}
{{- .Values.switchboardUrl | default (printf "http://%s.%s:%v" .Values.switchboardService (include "dynamic-service.platformNamespace" .) .Values.switchboardPort) }}
{{- end }}

{{/* The Secret and key of the registration token. */}}
{{- define "dynamic-service.tokenSecret" -}}
{{- if .Values.registrationToken.value }}
{{- printf "%s-registration" (include "dynamic-service.name" .) }}
{{- else }}
{{- required "registrationToken.existingSecret or registrationToken.value is required" .Values.registrationToken.existingSecret }}
{{- end }}
{{- end }}

{{/*
The pod's annotations: podAnnotations, with linkerd.io/inject: enabled added when
linkerdProxy.enabled and removed when not.
*/}}
{{- define "dynamic-service.podAnnotations" -}}
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
