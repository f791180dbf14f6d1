{{/* Chart name, truncated to the 63 characters Kubernetes names allow. */}}
{{- define "klaxon.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: release-chart, or the release name if it contains the chart name. */}}
{{- define "klaxon.fullname" -}}
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

{{- define "klaxon.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "klaxon.selectorLabels" -}}
app.kubernetes.io/name: {{ include "klaxon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "klaxon.labels" -}}
helm.sh/chart: {{ include "klaxon.chart" . }}
{{ include "klaxon.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: klaxon
{{- end }}

{{- define "klaxon.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "klaxon.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Whether Klaxon uses PostgreSQL (true) or its embedded SQLite store. */}}
{{- define "klaxon.usesDatabase" -}}
{{- if or .Values.database.existingSecret .Values.database.url }}true{{ end }}
{{- end }}

{{- define "klaxon.databaseSecretName" -}}
{{- default (printf "%s-database" (include "klaxon.fullname" .)) .Values.database.existingSecret }}
{{- end }}

{{- define "klaxon.configMapName" -}}
{{- default (include "klaxon.fullname" .) .Values.existingConfigMap }}
{{- end }}

{{/* The route prefix Klaxon serves under, without a trailing slash. */}}
{{- define "klaxon.routePrefix" -}}
{{- $p := .Values.routePrefix }}
{{- if and (not $p) .Values.externalURL }}
{{- $p = (urlParse .Values.externalURL).path }}
{{- end }}
{{- $p = trimSuffix "/" $p }}
{{- if and $p (not (hasPrefix "/" $p)) }}
{{- $p = printf "/%s" $p }}
{{- end }}
{{- $p }}
{{- end }}

{{/* Where git-sync's checkout of the rule files appears in the Klaxon container.
The trailing slash makes Klaxon follow git-sync's "current" symlink. */}}
{{- define "klaxon.gitSyncRulesPath" -}}
{{- $sub := trimAll "/" .Values.gitSync.path }}
{{- if $sub }}
{{- printf "/rules/current/%s/" $sub }}
{{- else }}
{{- print "/rules/current/" }}
{{- end }}
{{- end }}

{{/* klaxon.yml: .Values.config, plus the git-sync checkout in rules.files. */}}
{{- define "klaxon.config" -}}
{{- $cfg := deepCopy .Values.config }}
{{- if .Values.gitSync.enabled }}
{{- $rules := dict }}
{{- if hasKey $cfg "rules" }}
{{- $rules = get $cfg "rules" | default dict }}
{{- end }}
{{- $files := list }}
{{- if hasKey $rules "files" }}
{{- $files = get $rules "files" | default list }}
{{- end }}
{{- $_ := set $rules "files" (append $files (include "klaxon.gitSyncRulesPath" .)) }}
{{- $_ = set $cfg "rules" $rules }}
{{- end }}
{{- toYaml $cfg }}
{{- end }}

{{/* Alert labels of the PrometheusRule: severity plus prometheusRule.alertLabels. */}}
{{- define "klaxon.alertLabels" -}}
{{- $labels := merge (dict "severity" .severity) .root.Values.prometheusRule.alertLabels }}
{{- toYaml $labels }}
{{- end }}

{{/* Checks of combinations that cannot work. */}}
{{- define "klaxon.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not (include "klaxon.usesDatabase" .)) }}
{{- fail "replicaCount > 1 needs PostgreSQL (database.existingSecret or database.url): replicas share the database, the embedded SQLite store cannot be shared" }}
{{- end }}
{{- if and .Values.database.existingSecret .Values.database.url }}
{{- fail "set database.existingSecret or database.url, not both" }}
{{- end }}
{{- if and .Values.gitSync.enabled (not .Values.gitSync.repo) }}
{{- fail "gitSync.enabled needs gitSync.repo" }}
{{- end }}
{{- if and .Values.persistence.enabled (include "klaxon.usesDatabase" .) }}
{{- fail "persistence is for the embedded SQLite store; with PostgreSQL (database.*) the data lives in the database: disable persistence" }}
{{- end }}
{{- end }}
