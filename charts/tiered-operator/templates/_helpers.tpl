{{/* Chart name, truncated to a DNS label. */}}
{{- define "tiered.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name of the release's objects: the release name when it already holds the chart name. */}}
{{- define "tiered.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "tiered.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "tiered.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "tiered.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "tiered.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: tiered
{{- end }}

{{/* Labels that select the operator pods. */}}
{{- define "tiered.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tiered.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Name of the ServiceAccount. */}}
{{- define "tiered.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tiered.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The cluster name, or a rendering error that says how to set it. */}}
{{- define "tiered.clusterName" -}}
{{- required "clusterName is required: set it to a stable, unique name of this cluster (it becomes the tiered.io/cluster tag on every AWS resource), e.g. --set clusterName=prod-eu-west-1" .Values.clusterName }}
{{- end }}

{{/* Image reference; the tag defaults to the chart's appVersion. */}}
{{- define "tiered.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
