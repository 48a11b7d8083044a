{{/* Names, labels, and the settings the chart derives from its values. */}}

{{- define "lectern.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "lectern.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "lectern.labels" -}}
{{ include "lectern.selectorLabels" . }}
{{ include "lectern.commonLabels" . }}
{{- end -}}

{{/* Labels of everything the chart makes, without the component (content objects have their own). */}}
{{- define "lectern.commonLabels" -}}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: lectern
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "lectern.serviceAccountName" -}}
{{- default (include "lectern.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "lectern.jobsNamespace" -}}
{{- default .Release.Namespace .Values.launcher.namespace -}}
{{- end -}}

{{- define "lectern.dataClaim" -}}
{{- default (printf "%s-data" (include "lectern.fullname" .)) .Values.storage.existingClaim -}}
{{- end -}}

{{- define "lectern.usesNFS" -}}
{{- if and .Values.storage.nfs.server (not .Values.storage.existingClaim) -}}true{{- end -}}
{{- end -}}

{{- define "lectern.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "lectern.initImage" -}}
{{- printf "%s:%s" .Values.initImage.repository (default .Chart.AppVersion .Values.initImage.tag) -}}
{{- end -}}

{{- define "lectern.postgresSecret" -}}
{{- default (printf "%s-postgres" (include "lectern.fullname" .)) .Values.database.postgres.existingSecret -}}
{{- end -}}

{{/* Where the environments ConfigMap is mounted: a directory, so the kubelet can replace the file live. */}}
{{- define "lectern.environmentsDir" -}}/etc/lectern/environments{{- end -}}
{{- define "lectern.dataDir" -}}/var/lib/lectern{{- end -}}

{{/*
Refuses value combinations that cannot work, with the value to change. Included by every template
that depends on them, so `helm template` and `helm install` stop before anything is applied.
*/}}
{{- define "lectern.validate" -}}
{{- $v := .Values -}}
{{- if not (has $v.kind (list "StatefulSet" "Deployment")) -}}
{{- fail (printf "kind must be StatefulSet or Deployment, got %q" $v.kind) -}}
{{- end -}}
{{- if not (has $v.database.provider (list "sqlite" "postgres")) -}}
{{- fail (printf "database.provider must be sqlite or postgres, got %q" $v.database.provider) -}}
{{- end -}}
{{- if and (gt (int $v.replicas) 1) (eq $v.database.provider "sqlite") -}}
{{- fail (printf "replicas: %d needs PostgreSQL: SQLite is the database of a single server. Set database.provider: postgres and database.postgres.existingSecret (or database.postgres.url), or replicas: 1." (int $v.replicas)) -}}
{{- end -}}
{{- if and (eq $v.database.provider "postgres") (not $v.database.postgres.existingSecret) (not $v.database.postgres.url) -}}
{{- fail "database.provider: postgres needs the database's URL: set database.postgres.existingSecret (a Secret with key database.postgres.existingSecretKey) or database.postgres.url." -}}
{{- end -}}
{{- if and $v.database.postgres.existingSecret $v.database.postgres.url -}}
{{- fail "set database.postgres.existingSecret or database.postgres.url, not both." -}}
{{- end -}}
{{- if and $v.storage.nfs.server $v.storage.existingClaim -}}
{{- fail "set storage.existingClaim or storage.nfs, not both." -}}
{{- end -}}
{{- if and (or $v.storage.nfs.server $v.storage.nfs.path) (not (and $v.storage.nfs.server $v.storage.nfs.path)) -}}
{{- fail "storage.nfs needs both server and path." -}}
{{- end -}}
{{- if and $v.storage.nfs.path (not (hasPrefix "/" $v.storage.nfs.path)) -}}
{{- fail (printf "storage.nfs.path must be an absolute path, got %q" $v.storage.nfs.path) -}}
{{- end -}}
{{- if and (not $v.storage.create) (not $v.storage.existingClaim) (not $v.storage.nfs.server) -}}
{{- fail "Lectern needs a data volume: set storage.create: true, storage.existingClaim or storage.nfs." -}}
{{- end -}}
{{- if or (hasPrefix "/" $v.storage.subPath) (has ".." (splitList "/" $v.storage.subPath)) -}}
{{- fail (printf "storage.subPath must be a relative path inside the volume, got %q" $v.storage.subPath) -}}
{{- end -}}
{{- if and (ne (include "lectern.jobsNamespace" .) .Release.Namespace) (not (include "lectern.usesNFS" .)) (not $v.launcher.dataClaimName) -}}
{{- fail (printf "content pods run in namespace %q, where the release's claim %q does not exist: create a claim there on the same storage and set launcher.dataClaimName, or use storage.nfs." (include "lectern.jobsNamespace" .) (include "lectern.dataClaim" .)) -}}
{{- end -}}
{{- if or (eq (int $v.runAsUser) 0) (eq (int $v.runAsGroup) 0) -}}
{{- fail "runAsUser and runAsGroup must not be 0: Lectern and its content never run as root." -}}
{{- end -}}
{{- range $i, $env := $v.executionEnvironments -}}
{{- range $runtime := list "python" "r" "quarto" "tensorflow" -}}
{{- range $inst := (dig $runtime "installations" list $env) -}}
{{- if and (hasKey $inst "version") (not (kindIs "string" $inst.version)) -}}
{{- fail (printf "executionEnvironments[%d] (%v): %s version %v must be quoted (\"%v\"): Helm reads an unquoted 3.10 as the number 3.1." $i $env.name $runtime $inst.version $inst.version) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range $section, $keys := $v.config -}}
{{- if not (kindIs "map" $keys) -}}
{{- fail (printf "config.%s must be a map of settings ({Key: value}), got %v" $section $keys) -}}
{{- end -}}
{{- range $key, $_ := $keys -}}
{{- $owned := get (include "lectern.ownedSettings" $ | fromYaml) (printf "%s.%s" $section $key) -}}
{{- if $owned -}}
{{- fail (printf "config.%s.%s is set by the chart: use %s instead." $section $key $owned) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Settings the chart derives from values, and the value that sets each. */}}
{{- define "lectern.ownedSettings" -}}
HTTP.Listen: "the container port (fixed at :3939; service.port sets the Service's)"
Server.DataDir: storage
Server.Address: address
Server.ReplicaName: "kind (pod names)"
Server.SecretKey: secretKey.existingSecret
Database.Provider: database.provider
Postgres.URL: database.postgres
Launcher.Enabled: "nothing (the chart always runs content off-host)"
Launcher.Kubernetes: "nothing (the chart always runs content off-host)"
Launcher.KubernetesNamespace: launcher.namespace
Launcher.DataDir: storage.nfs
Launcher.DataDirPVCName: "storage.existingClaim or launcher.dataClaimName"
Launcher.DataDirPVCSubPath: storage.subPath
Launcher.InitContainerImage: initImage
Launcher.InitContainerPullPolicy: initImage.pullPolicy
Launcher.InstanceName: launcher.instanceName
ExecutionEnvironments.ConfigFilePath: executionEnvironments
{{- end -}}

{{/*
The gcfg configuration: the chart's settings, then `config`. Keys in sorted order so the checksum
only changes when a setting does; lists repeat the key; every value is double-quoted (gcfg escapes).
*/}}
{{- define "lectern.gcfg" -}}
{{- $v := .Values -}}
{{- $launcher := dict "Enabled" true "Kubernetes" true "KubernetesNamespace" (include "lectern.jobsNamespace" .) "InitContainerImage" (include "lectern.initImage" .) "InitContainerPullPolicy" $v.initImage.pullPolicy "InstanceName" (default (include "lectern.fullname" .) $v.launcher.instanceName) -}}
{{- if include "lectern.usesNFS" . -}}
{{- $_ := set $launcher "DataDir" (printf "%s:%s" $v.storage.nfs.server (trimSuffix "/" $v.storage.nfs.path)) -}}
{{- else -}}
{{- $_ := set $launcher "DataDirPVCName" (default (include "lectern.dataClaim" .) $v.launcher.dataClaimName) -}}
{{- end -}}
{{- if $v.storage.subPath -}}{{- $_ := set $launcher "DataDirPVCSubPath" $v.storage.subPath -}}{{- end -}}
{{- if $v.launcher.contentServiceAccount.create -}}{{- $_ := set $launcher "DefaultServiceAccount" $v.launcher.contentServiceAccount.name -}}{{- end -}}
{{- $server := dict "DataDir" (include "lectern.dataDir" .) -}}
{{- if $v.address -}}{{- $_ := set $server "Address" $v.address -}}{{- end -}}
{{- $chart := dict "HTTP" (dict "Listen" ":3939") "Server" $server "Database" (dict "Provider" $v.database.provider) "Launcher" $launcher -}}
{{- $_ := set $chart "ExecutionEnvironments" (dict "ConfigFilePath" (printf "%s/environments.yaml" (include "lectern.environmentsDir" .))) -}}
{{- $all := mergeOverwrite (deepCopy $v.config) $chart -}}
; Lectern's configuration, rendered by the Helm chart from its values (deploy/helm/lectern).
; [Server] ReplicaName, [Postgres] URL and [Server] SecretKey come from environment variables.
{{- range $section := keys $all | sortAlpha }}

[{{ $section }}]
{{- $keys := get $all $section }}
{{- range $key := keys $keys | sortAlpha }}
{{- $value := get $keys $key }}
{{- if kindIs "slice" $value }}
{{- range $item := $value }}
{{ $key }} = {{ include "lectern.gcfgValue" $item }}
{{- end }}
{{- else }}
{{ $key }} = {{ include "lectern.gcfgValue" $value }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* One gcfg value, double-quoted. YAML numbers arrive as floats: whole ones are written as integers (not 2.147483648e+09). */}}
{{- define "lectern.gcfgValue" -}}
{{- if and (kindIs "float64" .) (eq . (floor .)) -}}
{{- int64 . | toString | quote -}}
{{- else -}}
{{- . | toString | quote -}}
{{- end -}}
{{- end -}}

{{/* The restricted container securityContext (Pod Security Standards). */}}
{{- define "lectern.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
