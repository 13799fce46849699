{{/* Chart name, truncated to a DNS label. */}}
{{- define "miroir.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Full name: the prefix of every resource name. */}}
{{- define "miroir.fullname" -}}
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

{{- define "miroir.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every resource carries. */}}
{{- define "miroir.labels" -}}
helm.sh/chart: {{ include "miroir.chart" . }}
app.kubernetes.io/name: {{ include "miroir.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of one component: include "miroir.selectorLabels" (list . "miroir"). */}}
{{- define "miroir.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "miroir.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "miroir.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "miroir.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "miroir.image" -}}
{{- printf "%s:%s" .Values.miroir.image.repository (default .Chart.AppVersion .Values.miroir.image.tag) }}
{{- end }}

{{/* The Secret holding masterKey / nodeMasterKey / adminApiKey for the running pods. */}}
{{- define "miroir.secretName" -}}
{{- default (include "miroir.fullname" .) .Values.miroir.existingSecret }}
{{- end }}

{{/* The Secret the migration hook reads: a hook copy, since ordinary resources do not exist
during pre-install. An existing Secret is used as is. */}}
{{- define "miroir.migrationSecretName" -}}
{{- if .Values.miroir.existingSecret }}
{{- .Values.miroir.existingSecret }}
{{- else }}
{{- printf "%s-migrate" (include "miroir.fullname" .) }}
{{- end }}
{{- end }}

{{/* Secret data: only the keys that are set, so that optional secretKeyRefs leave the others
unset (Miroir ignores empty variables, but Meilisearch would take an empty master key). */}}
{{- define "miroir.secretData" -}}
{{- $keys := dict "masterKey" .Values.miroir.masterKey "nodeMasterKey" .Values.miroir.nodeMasterKey "adminApiKey" .Values.miroir.adminApiKey }}
{{- range $key := list "masterKey" "nodeMasterKey" "adminApiKey" }}
{{- with index $keys $key }}
{{ $key }}: {{ . | b64enc | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Nodes per replica group: meilisearch.nodesPerGroup, else replicas / replicaGroups. */}}
{{- define "miroir.nodesPerGroup" -}}
{{- if kindIs "invalid" .Values.meilisearch.nodesPerGroup }}
{{- div (int .Values.meilisearch.replicas) (int .Values.miroir.replicaGroups) }}
{{- else }}
{{- int .Values.meilisearch.nodesPerGroup }}
{{- end }}
{{- end }}

{{/* Rules values.schema.json cannot express (they compare two values); a failing rule stops
the render with a message naming the values. Called from the Deployment and the migration Job. */}}
{{- define "miroir.validate" -}}
{{- $groups := int .Values.miroir.replicaGroups }}
{{- $nodes := int .Values.meilisearch.replicas }}
{{- $rf := int .Values.miroir.replicationFactor }}
{{- $perGroup := int (include "miroir.nodesPerGroup" .) }}
{{- if ne $nodes (mul $groups $perGroup) }}
{{- fail (printf "meilisearch.replicas (%d) must equal miroir.replicaGroups (%d) × meilisearch.nodesPerGroup (%d): the chart puts node i in replica group i / nodesPerGroup" $nodes $groups $perGroup) }}
{{- end }}
{{- if gt $rf $perGroup }}
{{- fail (printf "miroir.replicationFactor (%d) exceeds meilisearch.nodesPerGroup (%d): each replica group must hold every shard replicationFactor times on distinct nodes; lower replicationFactor or raise nodesPerGroup (and meilisearch.replicas)" $rf $perGroup) }}
{{- end }}
{{- if and .Values.miroir.hpa.enabled (lt (int .Values.miroir.hpa.maxReplicas) (int .Values.miroir.replicas)) }}
{{- fail (printf "miroir.hpa.maxReplicas (%d) is below miroir.replicas (%d), the HPA's minReplicas" (int .Values.miroir.hpa.maxReplicas) (int .Values.miroir.replicas)) }}
{{- end }}
{{- $grace := int .Values.miroir.terminationGracePeriodSeconds }}
{{- $sleep := int .Values.miroir.preStopSleepSeconds }}
{{- if lt $grace (add $sleep 20) }}
{{- fail (printf "miroir.terminationGracePeriodSeconds (%d) must be at least miroir.preStopSleepSeconds (%d) + 20: after the preStop sleep, in-flight requests need time to finish before SIGKILL" $grace $sleep) }}
{{- end }}
{{- $pdb := .Values.miroir.podDisruptionBudget }}
{{- if and $pdb.enabled (eq (include "miroir.severalPods" .) "true") }}
{{- $min := $pdb.minAvailable }}
{{- if kindIs "string" $min }}
{{- if eq $min "100%" }}
{{- fail "miroir.podDisruptionBudget.minAvailable (100%) would block every voluntary eviction (kubectl drain): use a lower percentage or an integer below miroir.replicas" }}
{{- end }}
{{- else if ge (int $min) (int .Values.miroir.replicas) }}
{{- fail (printf "miroir.podDisruptionBudget.minAvailable (%d) must be below miroir.replicas (%d), or no pod could ever be evicted and `kubectl drain` would block" (int $min) (int .Values.miroir.replicas)) }}
{{- end }}
{{- end }}
{{- $meili := .Values.meilisearch.podDisruptionBudget }}
{{- if and $meili.enabled (not (kindIs "invalid" $meili.minAvailable)) }}
{{- if kindIs "string" $meili.minAvailable }}
{{- if eq $meili.minAvailable "100%" }}
{{- fail "meilisearch.podDisruptionBudget.minAvailable (100%) would block every voluntary eviction (kubectl drain)" }}
{{- end }}
{{- else if ge (int $meili.minAvailable) (int .Values.meilisearch.replicas) }}
{{- fail (printf "meilisearch.podDisruptionBudget.minAvailable (%d) must be below meilisearch.replicas (%d), or no node could ever be evicted and `kubectl drain` would block" (int $meili.minAvailable) (int .Values.meilisearch.replicas)) }}
{{- end }}
{{- end }}
{{- end }}

{{/* "true" when the release runs several Miroir pods (replicas > 1 or the HPA). */}}
{{- define "miroir.severalPods" -}}
{{- or .Values.miroir.hpa.enabled (gt (int .Values.miroir.replicas) 1) }}
{{- end }}

{{/* topologySpreadConstraints of one component:
include "miroir.topologySpread" (list . "miroir" .Values.miroir.topologySpread). Each entry's
labelSelector selects that component's pods; extra keys (maxSkew, ...) pass through. */}}
{{- define "miroir.topologySpread" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 }}
{{- range $entry := index . 2 }}
- topologyKey: {{ $entry.topologyKey }}
  whenUnsatisfiable: {{ $entry.whenUnsatisfiable }}
  maxSkew: {{ int (default 1 $entry.maxSkew) }}
  labelSelector:
    matchLabels:
      {{- include "miroir.selectorLabels" (list $root $component) | nindent 6 }}
  {{- if eq $component "miroir" }}
  # Count only the pods of the current ReplicaSet during a rolling update.
  matchLabelKeys:
    - pod-template-hash
  {{- end }}
{{- end }}
{{- end }}

{{/* The task store URL: the value of MIROIR_TASK_STORE_URL (for urlSecret, see storeUrlEnv). */}}
{{- define "miroir.taskStoreUrl" -}}
{{- if eq .Values.taskStore.backend "sqlite" }}
{{- print "sqlite:///data/tasks.db" }}
{{- else if .Values.taskStore.redis.url }}
{{- .Values.taskStore.redis.url }}
{{- else if .Values.redis.enabled }}
{{- printf "redis://%s-redis:6379/0" (include "miroir.fullname" .) }}
{{- end }}
{{- end }}

{{/* The MIROIR_TASK_STORE_URL env entry. */}}
{{- define "miroir.storeUrlEnv" -}}
- name: MIROIR_TASK_STORE_URL
{{- if and (eq .Values.taskStore.backend "redis") (not .Values.taskStore.redis.url) .Values.taskStore.redis.urlSecret.name }}
  valueFrom:
    secretKeyRef:
      name: {{ .Values.taskStore.redis.urlSecret.name }}
      key: {{ .Values.taskStore.redis.urlSecret.key }}
{{- else }}
  value: {{ include "miroir.taskStoreUrl" . | quote }}
{{- end }}
{{- end }}

{{/* The key env entries, each optional so an absent key leaves the variable unset. */}}
{{- define "miroir.keyEnv" -}}
{{- $secret := index . 1 }}
{{- range $pair := list (list "MIROIR_MASTER_KEY" "masterKey") (list "MIROIR_NODE_MASTER_KEY" "nodeMasterKey") (list "MIROIR_ADMIN_API_KEY" "adminApiKey") }}
- name: {{ index $pair 0 }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ index $pair 1 }}
      optional: true
{{- end }}
{{- end }}

{{/* The Miroir config file (plan §4 schema; every key exists in
shared/core/src/config/default.yaml). The store URL and the keys come from the environment. */}}
{{- define "miroir.configYaml" -}}
{{- $fullname := include "miroir.fullname" . }}
{{- $perGroup := int (include "miroir.nodesPerGroup" .) }}
{{- $nodes := list }}
{{- range $i := until (int .Values.meilisearch.replicas) }}
{{- $id := printf "%s-meilisearch-%d" $fullname $i }}
{{- $address := printf "http://%s.%s-meilisearch-headless.%s.svc.%s:7700" $id $fullname $.Release.Namespace $.Values.clusterDomain }}
{{- $group := 0 }}
{{- if gt $perGroup 0 }}{{ $group = div $i $perGroup }}{{ end }}
{{- $nodes = append $nodes (dict "id" $id "address" $address "replica_group" $group) }}
{{- end }}
{{- $config := dict
  "shards" (int .Values.miroir.shards)
  "replication_factor" (int .Values.miroir.replicationFactor)
  "replica_groups" (int .Values.miroir.replicaGroups)
  "task_store" (dict "backend" .Values.taskStore.backend)
  "nodes" $nodes
  "server" (dict "bind" "0.0.0.0" "port" 7700)
  "scatter" (dict "unavailable_shard_policy" .Values.miroir.scatter.unavailableShardPolicy)
  "background" (dict "enabled" true)
}}
{{- $config = mustMergeOverwrite $config (deepCopy .Values.miroir.extraConfig) }}
{{- toYaml (dict "miroir" $config) }}
{{- end }}

{{/* The pod-affinity that keeps the migration Job next to the Miroir pod when the SQLite volume
is ReadWriteOnce. */}}
{{- define "miroir.sqliteAffinity" -}}
podAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "miroir.selectorLabels" (list . "miroir") | nindent 12 }}
{{- end }}

{{/* NetworkPolicy peers allowed to reach the Meilisearch nodes and the in-chart Redis: the
Miroir pods and the migration Job of this release. */}}
{{- define "miroir.storeClients" -}}
- podSelector:
    matchLabels:
      {{- include "miroir.selectorLabels" (list . "miroir") | nindent 6 }}
- podSelector:
    matchLabels:
      {{- include "miroir.selectorLabels" (list . "migration") | nindent 6 }}
{{- end }}
