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

{{/*
The permissions of `tiered run`, exactly what its code uses (tests/it/rbac_used.json,
recorded from the end-to-end run and checked by scripts/packaging.py):
- Children are written by server-side apply (`patch`, plus `create`: an apply that
  creates an object is authorized as `create` too), read from label-selected watches
  (`list`, `watch`) and pruned with `delete`. No `get`, no `update`.
- TieredApps are only watched; ManagedDatabases and CacheClusters are also read one by
  one (`get`) and `patch`ed to add and remove their finalizer. Every `/status` is
  written by server-side apply (`patch`). `/finalizers` `update` lets children and
  connection Secrets carry a controller ownerReference with blockOwnerDeletion
  (checked by the OwnerReferencesPermissionEnforcement admission plugin).
- Secrets: the connection Secrets (applied and watched) and the ones a TieredApp
  injects (`get`). Never deleted by the operator: garbage collection removes them with
  their owner.
- Events (events.k8s.io/v1): created, and patched to count repeats.
- PersistentVolumeClaims: the shared volumes of a TieredApp (applied and watched, a
  name not in the cache looked up with `get`). Never deleted by the operator: a
  retained claim stays, a `whenDeleted: Delete` claim goes with its app through garbage
  collection.
*/}}
{{- define "tiered.rbacRules" -}}
- apiGroups: [""]
  resources: [persistentvolumeclaims, secrets]
  verbs: [create, get, list, patch, watch]
- apiGroups: [""]
  resources: [serviceaccounts, services]
  verbs: [create, delete, get, list, patch, watch]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [create, delete, get, list, patch, watch]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [create, delete, get, list, patch, watch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [networking.k8s.io]
  resources: [ingresses, networkpolicies]
  verbs: [create, delete, get, list, patch, watch]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [create, delete, get, list, patch, watch]
- apiGroups: [tiered.io]
  resources: [cacheclusters, manageddatabases]
  verbs: [get, list, patch, watch]
- apiGroups: [tiered.io]
  resources: [cacheclusters/finalizers, manageddatabases/finalizers, tieredapps/finalizers]
  verbs: [update]
- apiGroups: [tiered.io]
  resources: [cacheclusters/status, manageddatabases/status, tieredapps/status]
  verbs: [patch]
- apiGroups: [tiered.io]
  resources: [tieredapps]
  verbs: [list, watch]
{{- end }}

{{/*
The operator Deployments: "" (the main one) and one per sharding.shards entry, as a
JSON list (`include … | fromJsonArray`).
*/}}
{{- define "tiered.shards" -}}
{{- prepend .Values.sharding.shards "" | toJson -}}
{{- end }}

{{/* The Lease of the Deployment of shard `.shard` ("" for the main one). */}}
{{- define "tiered.leaseName" -}}
{{- if .shard }}{{ printf "%s-%s" .root.Values.leaderElection.leaseName .shard }}{{ else }}{{ .root.Values.leaderElection.leaseName }}{{ end }}
{{- end }}

{{/* key=value pairs of a map, comma-separated and sorted (TIERED_DNS_POD_LABELS). */}}
{{- define "tiered.labelPairs" -}}
{{- $pairs := list -}}
{{- range $key, $value := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end }}
